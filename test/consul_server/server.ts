/**
 * A small Consul HTTP API server for tests: the session and KV endpoints pgwarden's Consul adapter uses,
 * on Deno.serve, over the in-memory `ConsulState`. Start it in-process with `startConsulServer()` or as a
 * subprocess with `main.ts`. What is and is not emulated: README.md.
 */
import { parseGoDuration } from "./duration.ts";
import { ConsulApiError, ConsulState, type ConsulStateOptions, type KvEntry, type KvWrite } from "./state.ts";

export interface ConsulServerOptions extends ConsulStateOptions {
  /** @default "127.0.0.1" */
  hostname?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** The only datacenter `?dc=` may name. @default "dc1" */
  datacenter?: string;
  /** Add Consul's random extra wait (up to wait/16) to blocking queries. @default true */
  blockingJitter?: boolean;
}

/**
 * `error`: every request gets Consul's 500 "No cluster leader". `blackhole`: requests get no answer and
 * change nothing, like a partitioned server; when the fault is cleared they are answered 503, still unapplied.
 */
export type FaultMode = "none" | "error" | "blackhole";

export interface ConsulTestServer {
  readonly state: ConsulState;
  readonly port: number;
  /** `127.0.0.1:<port>`, the form pgwarden's `consul.host` takes. */
  readonly hostPort: string;
  readonly url: string;
  /** Requests received so far (including ones answered by an injected fault). */
  readonly requestCount: number;
  /** The last 1000 requests as `METHOD /v1/path?query`, oldest first. */
  readonly requestLog: readonly string[];
  setFault(mode: FaultMode): void;
  close(): Promise<void>;
}

const MAX_VALUE_BYTES = 512 * 1024;
const DEFAULT_QUERY_MS = 5 * 60_000;
const MAX_QUERY_MS = 10 * 60_000;

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

function json(body: unknown, headers: Record<string, string> = {}, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function queryMeta(index: number, consistency: string): Record<string, string> {
  return {
    "x-consul-index": String(index),
    "x-consul-knownleader": "true",
    "x-consul-lastcontact": "0",
    "x-consul-effective-consistency": consistency,
  };
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function entryJson(e: KvEntry): Record<string, unknown> {
  return {
    LockIndex: e.LockIndex,
    Key: e.Key,
    Flags: e.Flags,
    Value: e.Value.length === 0 ? null : base64(e.Value),
    ...(e.Session ? { Session: e.Session } : {}),
    CreateIndex: e.CreateIndex,
    ModifyIndex: e.ModifyIndex,
  };
}

function parseUint(raw: string, what: string): number {
  if (!/^[0-9]+$/.test(raw)) throw new ConsulApiError(400, `Invalid ${what}`);
  return Number(raw);
}

/** Start listening (a free loopback port unless `port` is given). */
export function startConsulServer(opts: ConsulServerOptions = {}): Promise<ConsulTestServer> {
  const state = new ConsulState(opts);
  const datacenter = opts.datacenter ?? "dc1";
  const jitter = opts.blockingJitter ?? true;
  let fault: FaultMode = "none";
  let releaseHung: () => void = () => {};
  let hung = new Promise<void>((r) => (releaseHung = r));
  let requestCount = 0;
  const requestLog: string[] = [];
  const closing = new AbortController();
  const closed = new Promise<void>((r) =>
    closing.signal.addEventListener("abort", () => r(), { once: true })
  );

  /** Run `read` until its index passes `minIndex`, a change wakes it, or the wait elapses. */
  async function blocking<R extends { index: number }>(
    params: URLSearchParams,
    scope: { key: string; prefix: boolean },
    read: () => R,
  ): Promise<R> {
    const minIndex = params.has("index") ? parseUint(params.get("index")!, "index") : 0;
    let waitMs = DEFAULT_QUERY_MS;
    if (params.has("wait")) {
      try {
        waitMs = parseGoDuration(params.get("wait")!) / 1e6;
      } catch {
        throw new ConsulApiError(400, "Invalid wait time");
      }
      if (waitMs > MAX_QUERY_MS) waitMs = MAX_QUERY_MS;
      else if (waitMs <= 0) waitMs = DEFAULT_QUERY_MS;
    }
    if (jitter) waitMs += Math.random() * (waitMs / 16);
    const deadline = Date.now() + waitMs;
    // A client that disconnects is not noticed (Consul would cancel); close() releases every waiter.
    const both = closing.signal;
    for (;;) {
      const r = read();
      if (minIndex === 0 || r.index > minIndex) return r;
      const left = deadline - Date.now();
      if (left <= 0 || both.aborted) return r;
      // Like Consul, a timed-out wait returns the result read before waiting.
      if (!await state.waitForChange(scope, left, both)) return r;
    }
  }

  async function route(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const params = url.searchParams;
    const path = decodeURIComponent(url.pathname);
    const dc = params.get("dc");
    if (dc && dc !== datacenter) return text(500, "No path to datacenter");
    if (params.has("stale") && params.has("consistent")) {
      return text(400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
    }
    const consistency = params.has("consistent") ? "consistent" : params.has("stale") ? "stale" : "leader";

    const session = /^\/v1\/session\/(create|renew|destroy|info)(?:\/(.*))?$/.exec(path);
    if (session) {
      const [, verb, id = ""] = session;
      const method = verb === "info" ? "GET" : "PUT";
      if (req.method !== method) return text(405, `method ${req.method} not allowed`);
      if (verb === "create") {
        const raw = await req.text();
        let body: unknown = {};
        if (raw.length > 0) {
          try {
            body = JSON.parse(raw);
          } catch (e) {
            return text(400, `Request decode failed: ${(e as Error).message}`);
          }
        }
        if (typeof body !== "object" || body === null || Array.isArray(body)) {
          return text(400, "Request decode failed: expected a JSON object");
        }
        return json({ ID: state.createSession(body as Record<string, unknown>) });
      }
      if (id === "") return text(400, "Missing session");
      if (verb === "renew") {
        const s = state.renewSession(id);
        return s ? json([s]) : text(404, `Session id '${id}' not found`);
      }
      if (verb === "destroy") {
        state.destroySession(id);
        return json(true);
      }
      const info = state.sessionInfo(id);
      return json(info.sessions, queryMeta(info.index, consistency));
    }

    if (!path.startsWith("/v1/kv/")) return text(404, "404 page not found");
    const key = path.slice("/v1/kv/".length);
    if (req.method === "GET") {
      if (params.has("keys") || params.has("raw")) {
        return text(400, "the test server does not emulate ?keys or ?raw");
      }
      if (params.has("recurse")) {
        const r = await blocking(params, { key, prefix: true }, () => state.list(key));
        if (r.entries.length === 0) {
          return new Response(null, { status: 404, headers: queryMeta(r.index, consistency) });
        }
        return json(r.entries.map(entryJson), queryMeta(r.index, consistency));
      }
      const r = await blocking(params, { key, prefix: false }, () => state.get(key));
      if (!r.entry) return new Response(null, { status: 404, headers: queryMeta(r.index, consistency) });
      return json([entryJson(r.entry)], queryMeta(r.index, consistency));
    }
    if (req.method === "PUT") {
      if (key === "") return text(400, "Missing key name");
      const value = new Uint8Array(await req.arrayBuffer());
      if (value.length > MAX_VALUE_BYTES) {
        return text(
          413,
          `Request body(${value.length} bytes) too large, max size: ${MAX_VALUE_BYTES} bytes.`,
        );
      }
      const flags = params.has("flags") ? parseUint(params.get("flags")!, "flags") : 0;
      // Same precedence as Consul: release over acquire over cas.
      let write: KvWrite = { op: "set" };
      if (params.has("cas")) write = { op: "cas", index: parseUint(params.get("cas")!, "cas index") };
      if (params.has("acquire")) write = { op: "lock", session: params.get("acquire")! };
      if (params.has("release")) write = { op: "unlock", session: params.get("release")! };
      return json(state.put(key, value, write, flags));
    }
    if (req.method === "DELETE") {
      const recurse = params.has("recurse");
      if (key === "" && !recurse) return text(400, "Missing key name");
      const cas = params.has("cas") ? parseUint(params.get("cas")!, "cas index") : undefined;
      return json(state.delete(key, { recurse, cas }));
    }
    return text(405, `method ${req.method} not allowed`);
  }

  async function handle(req: Request): Promise<Response> {
    requestCount++;
    const u = new URL(req.url);
    requestLog.push(`${req.method} ${decodeURIComponent(u.pathname)}${u.search}`);
    if (requestLog.length > 1000) requestLog.shift();
    if (fault === "blackhole") {
      await Promise.race([hung, closed]);
      return text(503, "request dropped by the test server's blackhole fault");
    }
    if (closing.signal.aborted) return text(503, "shutting down");
    if (fault === "error") return text(500, "No cluster leader");
    try {
      return await route(req);
    } catch (e) {
      if (e instanceof ConsulApiError) return text(e.status, e.message);
      return text(500, String(e));
    }
  }

  const server = Deno.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 0,
    onListen: () => {},
  }, handle);
  const port = server.addr.port;
  const hostname = server.addr.hostname;
  return Promise.resolve({
    state,
    port,
    hostPort: `${hostname}:${port}`,
    url: `http://${hostname}:${port}`,
    get requestCount() {
      return requestCount;
    },
    requestLog,
    setFault(mode) {
      fault = mode;
      if (mode !== "blackhole") {
        releaseHung();
        hung = new Promise<void>((r) => (releaseHung = r));
      }
    },
    async close() {
      closing.abort();
      releaseHung();
      state.close();
      await server.shutdown();
    },
  });
}
