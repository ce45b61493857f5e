/**
 * REST client for members' APIs (patronictl `PatroniRequest`): the endpoint replaces the path of the member's
 * `api_url`, requests carry basic auth from `ctl.authentication` (else `restapi.authentication`) and the TLS
 * settings of the `ctl` section. Transport failures become `RestError`s naming the member and the URL.
 */
import https from "node:https";
import type { Member } from "../dcs/types.ts";

export interface RestResponse {
  status: number;
  body: string;
}

export interface RestRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

/** Sends one request; throws on transport failure (connection refused, TLS, timeout). */
export type RestTransport = (req: RestRequest) => Promise<RestResponse>;

export interface TlsSettings {
  /** PEM file of the CA that signed the members' certificates. */
  cacert?: string;
  /** Client certificate and key (for `verify_client`). */
  certfile?: string;
  keyfile?: string;
  /** Skip certificate verification (`-k`, `ctl.insecure`). */
  insecure?: boolean;
}

export class RestError extends Error {
  override name = "RestError";
  constructor(readonly member: string, readonly url: string, message: string, options?: { cause?: unknown }) {
    super(`${member} (${url}): ${message}`, options);
  }
}

/** `http://h:8008/patroni` + `switchover` → `http://h:8008/switchover`; no endpoint keeps the URL. */
export function endpointUrl(apiUrl: string, endpoint?: string): string {
  if (!endpoint) return apiUrl;
  const u = new URL(apiUrl);
  return `${u.protocol}//${u.host}/${endpoint.replace(/^\/+/, "")}`;
}

/** Default budget of one request; long operations (switchover, restart) pass their own. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export class RestClient {
  readonly #transport: RestTransport;
  readonly #auth?: { username: string; password: string };
  constructor(transport: RestTransport, auth?: { username: string; password: string }) {
    this.#transport = transport;
    this.#auth = auth;
  }

  /** Call `endpoint` of `member` (its status document when omitted). */
  async request(
    member: Pick<Member, "name" | "data">,
    method: string,
    endpoint?: string,
    body?: unknown,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<RestResponse> {
    const api = member.data.api_url;
    if (!api) throw new RestError(member.name, "-", "the member has no api_url in the DCS");
    let url: string;
    try {
      url = endpointUrl(api, endpoint);
    } catch {
      throw new RestError(member.name, api, "invalid api_url");
    }
    const headers: Record<string, string> = {};
    if (this.#auth) headers.authorization = "Basic " + btoa(`${this.#auth.username}:${this.#auth.password}`);
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      return await this.#transport({
        url,
        method: method.toUpperCase(),
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        timeoutMs,
      });
    } catch (e) {
      throw new RestError(member.name, url, transportMessage(e, timeoutMs), { cause: e });
    }
  }

  /** GET a JSON document; RestError when the answer is not a JSON object. */
  async getJson(member: Pick<Member, "name" | "data">, endpoint?: string, timeoutMs?: number) {
    const r = await this.request(member, "GET", endpoint, undefined, timeoutMs);
    try {
      const v = JSON.parse(r.body);
      if (v && typeof v === "object" && !Array.isArray(v)) {
        return { status: r.status, doc: v as Record<string, unknown> };
      }
    } catch {
      // fall through
    }
    throw new RestError(
      member.name,
      endpointUrl(member.data.api_url!, endpoint),
      `expected JSON, got HTTP ${r.status}: ${r.body.slice(0, 200)}`,
    );
  }
}

/** The useful part of a transport failure: fetch hides it in `cause`, and repeats the URL we already print. */
export function transportMessage(e: unknown, timeoutMs: number): string {
  if (e instanceof DOMException && e.name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
  let err = e;
  if (e instanceof Error && e.message === "fetch failed" && e.cause) err = e.cause;
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split("\n")[0]!.replace(/^error sending request for url \([^)]*\): /, "");
}

/** `fetch`-based transport; TLS material from `tls` (CA, client certificate). */
export function fetchTransport(tls: TlsSettings = {}): RestTransport {
  let client: Deno.HttpClient | undefined;
  const clientFor = () => {
    if (client || !(tls.cacert || tls.certfile)) return client;
    client = Deno.createHttpClient({
      ...(tls.cacert ? { caCerts: [Deno.readTextFileSync(tls.cacert)] } : {}),
      ...(tls.certfile && tls.keyfile
        ? { cert: Deno.readTextFileSync(tls.certfile), key: Deno.readTextFileSync(tls.keyfile) }
        : {}),
    });
    return client;
  };
  return async (req) => {
    if (tls.insecure && req.url.startsWith("https:")) return await insecureHttps(req, tls);
    const c = clientFor();
    const r = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      signal: AbortSignal.timeout(req.timeoutMs),
      ...(c ? { client: c } : {}),
    });
    return { status: r.status, body: await r.text() };
  };
}

/** HTTPS without certificate verification: `fetch` has no switch for it, node's `https` does. */
function insecureHttps(req: RestRequest, tls: TlsSettings): Promise<RestResponse> {
  return new Promise((resolve, reject) => {
    const r = https.request(req.url, {
      method: req.method,
      headers: {
        ...req.headers,
        ...(req.body !== undefined
          ? { "content-length": String(new TextEncoder().encode(req.body).length) }
          : {}),
      },
      rejectUnauthorized: false,
      timeout: req.timeoutMs,
      ...(tls.certfile && tls.keyfile
        ? { cert: Deno.readTextFileSync(tls.certfile), key: Deno.readTextFileSync(tls.keyfile) }
        : {}),
    }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => body += c);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    r.on("timeout", () => r.destroy(new Error(`timed out after ${req.timeoutMs} ms`)));
    r.on("error", reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}
