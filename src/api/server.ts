/**
 * The REST API server on `Deno.serve`: HTTP, or HTTPS when `restapi.certfile` is set. Binds `restapi.listen`
 * (`*` or an empty host means all interfaces).
 *
 * Client-certificate verification (`verify_client: optional|required`) is not available: `Deno.serve` cannot
 * request or verify client certificates, so such a configuration is refused at start rather than silently
 * served without the check.
 */
import { createPrivateKey } from "node:crypto";
import type { AgentControl } from "../agent/status.ts";
import type { Config } from "../config/schema.ts";
import { type Clock, realClock } from "../util/clock.ts";
import { basicAuthKey, buildAllowlist, type Resolver, systemResolver } from "./auth.ts";
import { type ApiRequest, type ApiResponse, errorResponse } from "./http.ts";
import { metrics as defaultMetrics, type PgwardenMetrics } from "./metrics.ts";
import { type ApiContext, route } from "./router.ts";
import { httpStatusFetcher, type PeerStatusFetcher } from "./switchover.ts";
import { PGWARDEN_VERSION } from "./version.ts";

/** Request bodies are small JSON documents; anything larger is refused unread. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiLogger {
  debug(msg: string): void;
  warn(msg: string): void;
}

export interface StartApiOptions {
  clock?: Clock;
  fetchStatus?: PeerStatusFetcher;
  resolver?: Resolver;
  metrics?: PgwardenMetrics;
  log?: ApiLogger;
}

export interface ApiServer {
  /** Base URL of the bound socket, e.g. `http://127.0.0.1:8008`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A configuration the server cannot honour. */
export class ApiConfigError extends Error {
  override name = "ApiConfigError";
}

/** `host:port` → hostname for `Deno.serve` and the port. */
export function parseListen(listen: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  if (!m) {
    throw new ApiConfigError(
      `Invalid "restapi" config: expected <HOST>:<PORT> for "listen", got "${listen}"`,
    );
  }
  const host = m[1] ?? m[2] ?? "";
  return { hostname: host === "" || host === "*" ? "0.0.0.0" : host, port: Number(m[3]) };
}

/** The `Server` header for `restapi.server_tokens`. */
export function serverHeader(tokens: "original" | "productonly" | "minimal"): string {
  if (tokens === "productonly") return "Patroni";
  if (tokens === "minimal") return `Patroni/${PGWARDEN_VERSION}`;
  return `pgwarden/${PGWARDEN_VERSION} Deno/${Deno.version.deno}`;
}

const PEM_KEY_RE = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/;
const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Certificate chain and (decrypted) key from `certfile`/`keyfile`/`keyfile_password`. */
export async function loadTls(r: Config["restapi"]): Promise<{ cert: string; key: string }> {
  const certText = await Deno.readTextFile(r.certfile!);
  const certs = certText.match(PEM_CERT_RE);
  if (!certs) {
    throw new ApiConfigError(`restapi.certfile ${JSON.stringify(r.certfile)} holds no PEM certificate`);
  }
  const keyText = r.keyfile ? await Deno.readTextFile(r.keyfile) : certText;
  const keyPem = keyText.match(PEM_KEY_RE)?.[0];
  if (!keyPem) throw new ApiConfigError(`no PEM private key in ${JSON.stringify(r.keyfile ?? r.certfile)}`);
  let key = keyPem;
  if (r.keyfilePassword !== undefined || keyPem.includes("ENCRYPTED")) {
    try {
      key = createPrivateKey({ key: keyPem, passphrase: r.keyfilePassword ?? "" })
        .export({ format: "pem", type: "pkcs8" }) as string;
    } catch (e) {
      throw new ApiConfigError(`cannot decrypt the REST API key: ${(e as Error).message}`);
    }
  }
  return { cert: certs.join("\n") + "\n", key };
}

function toResponse(res: ApiResponse, extraHeaders: Record<string, string>, server: string): Response {
  if (res.body === undefined) return new Response(null, { status: res.status });
  const headers = new Headers();
  headers.set("Server", server);
  if (res.contentType) headers.set("Content-Type", res.contentType);
  for (const [k, v] of Object.entries(res.headers ?? {})) headers.set(k, v);
  for (const [k, v] of Object.entries(extraHeaders)) headers.set(k, v);
  return new Response(res.body, { status: res.status, headers });
}

/** Start serving the API for `control`; resolves once the socket is bound. */
export async function startApi(
  control: AgentControl,
  config: Config,
  opts: StartApiOptions = {},
): Promise<ApiServer> {
  const r = config.restapi;
  const tlsEnabled = !!r.certfile;
  if (tlsEnabled && (r.verifyClient === "optional" || r.verifyClient === "required")) {
    throw new ApiConfigError(
      `restapi.verify_client "${r.verifyClient}" is not supported: Deno.serve cannot verify client certificates`,
    );
  }
  if (r.ciphers) opts.log?.warn("restapi.ciphers is ignored: Deno's TLS stack chooses its cipher suites");
  const tls = tlsEnabled ? await loadTls(r) : null;
  const resolver = opts.resolver ?? systemResolver;
  const caFile = r.cafile ?? config.ctl.cacert;
  const httpClient = caFile
    ? Deno.createHttpClient({ caCerts: [await Deno.readTextFile(caFile)] })
    : undefined;

  const ctx: ApiContext = {
    control,
    clock: opts.clock ?? realClock,
    fetchStatus: opts.fetchStatus ?? httpStatusFetcher(httpClient),
    resolver,
    metrics: opts.metrics ?? defaultMetrics,
    policy: {
      allowlist: await buildAllowlist(r.allowlist ?? [], resolver),
      includeMembers: !!r.allowlistIncludeMembers,
      authKey: r.authentication ? basicAuthKey(r.authentication.username, r.authentication.password) : null,
      requireClientCert: false,
    },
  };
  const extraHeaders = { ...(r.httpExtraHeaders ?? {}), ...(tlsEnabled ? r.httpsExtraHeaders ?? {} : {}) };
  const server = serverHeader(r.serverTokens);
  const { hostname, port } = parseListen(r.listen);

  const handler = async (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Promise<Response> => {
    const started = performance.now();
    const url = new URL(request.url);
    // Like Patroni, a body is only read as far as Content-Length announces it; without one it is ignored
    // (required bodies then get 411). Oversized bodies are refused before reading.
    const length = request.headers.get("content-length");
    let res: ApiResponse | null = null;
    let body = "";
    if (length !== null && Number(length) > MAX_BODY_BYTES) {
      res = errorResponse(413, `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    } else if (length !== null && request.body) body = await request.text();
    if (res || length === null) await request.body?.cancel();
    const req: ApiRequest = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body,
      remoteIp: info.remoteAddr.hostname,
      tls: tlsEnabled,
    };
    res ??= await route(ctx, req);
    opts.log?.debug(
      `API thread: ${req.remoteIp} - - "${req.method} ${url.pathname}${url.search}" ${res.status} - latency: ` +
        `${(performance.now() - started).toFixed(3)} ms`,
    );
    return toResponse(res, extraHeaders, server);
  };

  const common = {
    hostname,
    port,
    tcpBacklog: r.requestQueueSize,
    onListen: () => {},
    onError: (e: unknown) => new Response(`Internal Server Error: ${(e as Error)?.message}`, { status: 500 }),
  };
  let httpServer: Deno.HttpServer<Deno.NetAddr>;
  try {
    httpServer = tls ? Deno.serve({ ...common, ...tls }, handler) : Deno.serve(common, handler);
  } catch (e) {
    httpClient?.close();
    throw new ApiConfigError(
      `Couldn't start the REST API on "${r.listen}", please check restapi.listen: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const addr = httpServer.addr;
  const shownHost = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `${tlsEnabled ? "https" : "http"}://${shownHost}:${addr.port}`,
    port: addr.port,
    async close() {
      await httpServer.shutdown();
      httpClient?.close();
    },
  };
}
