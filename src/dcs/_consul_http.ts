/**
 * The Consul HTTP calls pgwarden makes, over the npm `consul` client (papi on node:http), typed and made
 * cancellable: every call takes an `Attempt` whose signal aborts the HTTP request, and counts one request.
 *
 * The package's own type declarations omit the per-request options we rely on (`ctx` for cancellation and
 * response headers, `timeout`, `index`/`wait`, `consistent`/`stale`), although its JavaScript supports them;
 * `NpmConsul` below declares exactly what we call.
 */
import Consul from "consul";
import { EventEmitter } from "node:events";
import * as https from "node:https";
import type { Attempt } from "./retry.ts";

export interface ConsulKvEntry {
  Key: string;
  /** Decoded to text by the client; null when empty. */
  Value: string | null;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Flags: number;
  Session?: string;
}

export interface ConsulRead {
  /** `X-Consul-Index` of the answer. */
  index: string;
  /** Empty when Consul answered 404. */
  entries: ConsulKvEntry[];
}

export type Consistency = "default" | "consistent" | "stale";

export interface ConsulHttpOptions {
  host: string;
  url?: string;
  scheme: "http" | "https";
  token?: string;
  dc?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  verify?: boolean;
}

/** The papi request context: an emitter that cancels on "cancel" and, with `includeResponse`, yields `[res, body]`. */
type Ctx = EventEmitter & { includeResponse?: boolean };
interface PapiResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
}
interface CallOpts {
  ctx: Ctx;
  timeout: number;
}
interface NpmConsul {
  kv: {
    get(
      o: CallOpts & {
        key: string;
        recurse?: boolean;
        consistent?: boolean;
        stale?: boolean;
        index?: string;
        wait?: string;
      },
    ): Promise<
      [PapiResponse, ConsulKvEntry | ConsulKvEntry[] | undefined]
    >;
    set(o: CallOpts & { key: string; value: string; cas?: string; acquire?: string }): Promise<boolean>;
    del(o: CallOpts & { key: string; recurse?: boolean; cas?: string }): Promise<boolean>;
  };
  session: {
    create(o: CallOpts & Record<string, unknown>): Promise<{ ID: string }>;
    renew(o: CallOpts & { id: string }): Promise<unknown>;
  };
  destroy(): void;
}

/** An error answer from Consul (papi's ResponseError): its HTTP status and body text. */
export function consulErrorStatus(e: unknown): number | undefined {
  const r = e as { isResponse?: boolean; statusCode?: number } | null;
  return r && typeof r === "object" && r.isResponse ? r.statusCode : undefined;
}

export function consulErrorText(e: unknown): string {
  const body = (e as { response?: { body?: unknown } } | null)?.response?.body;
  if (typeof body === "string") return body;
  if (body instanceof Uint8Array) return new TextDecoder().decode(body);
  return e instanceof Error ? e.message : String(e);
}

/** Drop undefined fields: the client sends a query parameter for every key present. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function splitHostPort(hostPort: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(hostPort);
  return m ? { host: m[1] || "127.0.0.1", port: Number(m[2]) } : { host: hostPort, port: 8500 };
}

export class ConsulHttp {
  #client: NpmConsul;
  #requests = 0;

  constructor(o: ConsulHttpOptions) {
    const secure = o.scheme === "https" || (o.url?.startsWith("https:") ?? false);
    const agent = secure
      ? new https.Agent({
        keepAlive: true,
        ca: o.cacert ? Deno.readTextFileSync(o.cacert) : undefined,
        cert: o.cert ? Deno.readTextFileSync(o.cert) : undefined,
        key: o.key ? Deno.readTextFileSync(o.key) : undefined,
        rejectUnauthorized: o.verify !== false,
      })
      : undefined;
    const target = o.url
      ? { baseUrl: o.url.replace(/\/+$/, "") + "/v1" }
      : { ...splitHostPort(o.host), secure };
    const defaults = { ...(o.token ? { token: o.token } : {}), ...(o.dc ? { dc: o.dc } : {}) };
    this.#client = new Consul(
      { ...target, ...(agent ? { agent } : {}), defaults } as never,
    ) as unknown as NpmConsul;
  }

  /** HTTP requests sent so far. */
  get requestCount(): number {
    return this.#requests;
  }

  /** Issue one request bound to `a`: aborting `a.signal` cancels it. */
  async #call<T>(a: Attempt, withResponse: boolean, fn: (o: CallOpts) => Promise<T>): Promise<T> {
    if (a.signal.aborted) throw a.signal.reason;
    this.#requests++;
    const ctx: Ctx = new EventEmitter();
    if (withResponse) ctx.includeResponse = true;
    const cancel = () => ctx.emit("cancel");
    a.signal.addEventListener("abort", cancel, { once: true });
    try {
      return await fn({ ctx, timeout: Math.max(1, Math.ceil(a.timeoutMs)) });
    } finally {
      a.signal.removeEventListener("abort", cancel);
    }
  }

  /** `GET /v1/kv/<key>` (with `recurse`, a consistency mode, and a blocking `index`/`wait`). */
  async read(
    key: string,
    o: { recurse?: boolean; consistency?: Consistency; index?: string; waitMs?: number },
    a: Attempt,
  ): Promise<ConsulRead> {
    const [res, body] = await this.#call(a, true, (c) =>
      this.#client.kv.get({
        ...c,
        key,
        ...(o.recurse ? { recurse: true } : {}),
        ...(o.consistency === "consistent" ? { consistent: true } : {}),
        ...(o.consistency === "stale" ? { stale: true } : {}),
        ...(o.index !== undefined
          ? { index: o.index, wait: `${Math.max(1, Math.floor(o.waitMs ?? 0))}ms` }
          : {}),
      }));
    const header = res.headers["x-consul-index"];
    const index = Array.isArray(header) ? header[0] : header;
    if (index === undefined || !/^[0-9]+$/.test(index)) {
      throw new Error(`Consul answered without a valid X-Consul-Index (${JSON.stringify(header)})`);
    }
    const entries = body === undefined ? [] : Array.isArray(body) ? body : [body];
    return { index, entries };
  }

  /** `PUT /v1/kv/<key>` (with `cas` or `acquire`): Consul's true/false. */
  put(key: string, value: string, o: { cas?: string; acquire?: string }, a: Attempt): Promise<boolean> {
    return this.#call(
      a,
      false,
      async (c) => (await this.#client.kv.set({ ...c, key, value, ...defined(o) })) === true,
    );
  }

  /** `DELETE /v1/kv/<key>` (with `recurse` or `cas`): Consul's true/false. */
  delete(key: string, o: { recurse?: boolean; cas?: string }, a: Attempt): Promise<boolean> {
    return this.#call(
      a,
      false,
      async (c) => (await this.#client.kv.del({ ...c, key, ...defined(o) })) === true,
    );
  }

  /** `PUT /v1/session/create`; returns the session ID. */
  async createSession(
    s: { name: string; ttl: string; behavior: "delete" | "release"; lockDelay: string; checks: string[] },
    a: Attempt,
  ): Promise<string> {
    const r = await this.#call(a, false, (c) =>
      this.#client.session.create({
        ...c,
        name: s.name,
        ttl: s.ttl,
        behavior: s.behavior,
        lockdelay: s.lockDelay,
        checks: s.checks,
      }));
    if (!r || typeof r.ID !== "string") {
      throw new Error(`Consul session create answered ${JSON.stringify(r)}`);
    }
    return r.ID;
  }

  /** `PUT /v1/session/renew/<id>`: false when Consul no longer knows the session (404). */
  renewSession(id: string, a: Attempt): Promise<boolean> {
    return this.#call(a, false, async (c) => {
      try {
        await this.#client.session.renew({ ...c, id });
        return true;
      } catch (e) {
        if (consulErrorStatus(e) === 404) return false;
        throw e;
      }
    });
  }

  /** Close pooled connections. */
  close(): void {
    this.#client.destroy();
  }
}
