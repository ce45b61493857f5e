/**
 * etcd v3 backend over etcd's JSON gateway (`/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/*`, `/v3/watch`), the
 * same HTTP API Patroni's etcd3 client speaks, with Patroni's key layout and lock semantics (see `kv.ts`).
 *
 * Why not gRPC (npm:etcd3): on Deno that client runs on the Node-compat HTTP/2 layer, and an idle agent spent
 * most of its CPU there (measured: about 3× the CPU of the same requests through `fetch`). The gateway is part
 * of every etcd ≥ 3.4 and is served on the client port.
 *
 * All timing is ours (`withRetry` owns retries and the retry_timeout deadline). Requests stick to the
 * current endpoint and move on after a transport failure or a timed-out attempt; `endpoint_ring.ts` decides
 * where to.
 */
import { type Clock, realClock } from "../util/clock.ts";
import type { Attempt } from "./retry.ts";
import {
  type Compare,
  type KvBackend,
  KvDcs,
  type KvEvent,
  type KvOp,
  type KvPair,
  LeaseNotFoundError,
  type TxnResult,
} from "./kv.ts";
import type { DcsOptions } from "./types.ts";
import { EndpointRing, type RingEndpoint } from "./endpoint_ring.ts";

/** The `etcd3` section of the configuration (the fields this backend reads). */
export interface Etcd3Settings {
  host?: string;
  hosts?: string[];
  url?: string;
  protocol?: "http" | "https";
  username?: string;
  password?: string;
  cacert?: string;
  cert?: string;
  key?: string;
}

/** Endpoints as `host:port` plus whether TLS is used, from host/hosts/url (Patroni accepts all three). */
export function etcdEndpoints(s: Etcd3Settings): { hosts: string[]; tls: boolean } {
  const list: string[] = [];
  let tls = s.protocol === "https";
  for (const h of [...(s.hosts ?? []), ...(s.host ? [s.host] : []), ...(s.url ? [s.url] : [])]) {
    const m = /^(https?):\/\/([^/]+)/.exec(h.trim());
    if (m) {
      if (m[1] === "https") tls = true;
      list.push(m[2]!);
    } else list.push(h.trim());
  }
  if (list.length === 0) throw new Error("etcd3: expected host, hosts or url");
  return { hosts: [...new Set(list)], tls: tls || s.cacert !== undefined };
}

/** An answer from etcd that says it could not serve the request (as opposed to a refusal). */
export class EtcdEndpointError extends Error {
  override name = "EtcdEndpointError";
}

/** An error answer from etcd (gRPC status code and message, as the gateway reports them). */
export class EtcdApiError extends Error {
  override name = "EtcdApiError";
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

type Endpoint = RingEndpoint<string>;

// gRPC codes the gateway reports for "this endpoint cannot serve now" (unavailable, deadline, aborted).
const ENDPOINT_CODES = new Set([4, 10, 14]);

function bytesToB64(b: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < b.length; i += 0x8000) bin += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(bin);
}
const b64 = (s: string) => bytesToB64(new TextEncoder().encode(s));
const unb64 = (s: string | undefined) =>
  s ? new TextDecoder().decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0))) : "";

/** `range_end` for a prefix scan (the prefix with its last byte incremented), base64. */
function prefixEnd(prefix: string): string {
  const b = new TextEncoder().encode(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = b.slice(0, i + 1);
      end[i]!++;
      return bytesToB64(end);
    }
  }
  return btoa("\0");
}

/** A key-value as the gateway renders it: int64 as strings, zero values left out. */
interface WireKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

interface WireHeader {
  header?: { revision?: string };
}

function toPair(kv: WireKv): KvPair {
  return {
    key: unb64(kv.key),
    value: unb64(kv.value),
    createRevision: kv.create_revision ?? "0",
    modRevision: kv.mod_revision ?? "0",
    lease: kv.lease ?? "0",
  };
}

function toCompare(c: Compare): Record<string, string> {
  const base = { key: b64(c.key), result: "EQUAL" };
  switch (c.target) {
    case "create":
      return { ...base, target: "CREATE", create_revision: c.createRevision };
    case "mod":
      return { ...base, target: "MOD", mod_revision: c.modRevision };
    case "value":
      return { ...base, target: "VALUE", value: b64(c.value) };
    case "lease":
      return { ...base, target: "LEASE", lease: c.lease };
  }
}

function toRequestOp(op: KvOp): Record<string, unknown> {
  if ("put" in op) {
    const { key, value, lease } = op.put;
    return {
      request_put: { key: b64(key), value: b64(value), ...(lease && lease !== "0" ? { lease } : {}) },
    };
  }
  if ("deleteRange" in op) {
    const { key, prefix } = op.deleteRange;
    return { request_delete_range: { key: b64(key), ...(prefix ? { range_end: prefixEnd(key) } : {}) } };
  }
  return { request_range: { key: b64(op.range.key) } };
}

/** Errors that say "this endpoint did not serve us", as opposed to answers (lease gone, permission denied). */
function endpointFailure(e: unknown): boolean {
  return e instanceof TypeError || e instanceof EtcdEndpointError ||
    (e instanceof DOMException && (e.name === "AbortError" || e.name === "TimeoutError"));
}

const leaseGone = (e: unknown) =>
  e instanceof EtcdApiError && e.message.includes("requested lease not found");
const tokenInvalid = (e: unknown) =>
  e instanceof EtcdApiError && /invalid auth token|auth token is expired|user name is empty/.test(e.message);

export interface Etcd3BackendOptions {
  clock?: Clock;
}

/** The `KvBackend` port on a real etcd. */
export class Etcd3Backend implements KvBackend {
  readonly #endpoints: EndpointRing<string>;
  readonly #clock: Clock;
  readonly #client: Deno.HttpClient | undefined;
  readonly #auth: { name: string; password: string } | null;
  #token: string | null = null;
  #requests = 0;
  #closed = false;
  /** Aborts every open request and stream on close. */
  readonly #life = new AbortController();

  constructor(settings: Etcd3Settings, opts: Etcd3BackendOptions = {}) {
    this.#clock = opts.clock ?? realClock;
    const { hosts, tls } = etcdEndpoints(settings);
    this.#endpoints = new EndpointRing(hosts.map((host) => `${tls ? "https" : "http"}://${host}/v3`));
    this.#client = tls || settings.cert
      ? Deno.createHttpClient({
        ...(settings.cacert ? { caCerts: [Deno.readTextFileSync(settings.cacert)] } : {}),
        ...(settings.cert && settings.key
          ? { cert: Deno.readTextFileSync(settings.cert), key: Deno.readTextFileSync(settings.key) }
          : {}),
      })
      : Deno.createHttpClient({});
    this.#auth = settings.username ? { name: settings.username, password: settings.password ?? "" } : null;
  }

  get requestCount(): number {
    return this.#requests;
  }

  /** One HTTP request; error bodies become `EtcdApiError` (or `EtcdEndpointError` when etcd cannot serve). */
  async #fetch(ep: Endpoint, path: string, body: unknown, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.#token) headers.authorization = this.#token;
    const res = await fetch(ep.value + path, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, this.#life.signal]),
      ...(this.#client ? { client: this.#client } : {}),
    });
    if (res.ok) return res;
    const text = await res.text();
    let err: { code?: number; error?: string; message?: string } = {};
    try {
      err = JSON.parse(text);
    } catch { /* not JSON: a proxy or a non-etcd server */ }
    const msg = err.message ?? err.error ?? `HTTP ${res.status} ${text.slice(0, 200)}`;
    if (res.status >= 500 && err.code === undefined) throw new EtcdEndpointError(`etcd ${ep.value}: ${msg}`);
    if (err.code !== undefined && ENDPOINT_CODES.has(err.code)) throw new EtcdEndpointError(msg);
    throw new EtcdApiError(err.code ?? 2, msg);
  }

  async #authenticate(ep: Endpoint, signal: AbortSignal): Promise<void> {
    this.#token = null;
    const res = await this.#fetch(ep, "/auth/authenticate", this.#auth, signal);
    this.#token = ((await res.json()) as { token?: string }).token ?? null;
  }

  /** One request on the current endpoint; a transport failure or timeout moves us to the next endpoint. */
  async #call<T>(a: Attempt, path: string, body: unknown): Promise<T> {
    if (this.#closed) throw new EtcdEndpointError("etcd client closed");
    this.#requests++;
    const ep = this.#endpoints.pick();
    try {
      return await this.#request<T>(ep, a, path, body);
    } catch (e) {
      if (endpointFailure(e) || a.signal.aborted) this.#endpoints.failed(ep);
      throw e;
    }
  }

  async #request<T>(ep: Endpoint, a: Attempt, path: string, body: unknown): Promise<T> {
    if (this.#auth && !this.#token) await this.#authenticate(ep, a.signal);
    try {
      return (await (await this.#fetch(ep, path, body, a.signal)).json()) as T;
    } catch (e) {
      if (!this.#auth || !tokenInvalid(e)) throw e;
      // Simple tokens expire after a while of disuse: log in again once.
      await this.#authenticate(ep, a.signal);
      return (await (await this.#fetch(ep, path, body, a.signal)).json()) as T;
    }
  }

  async range(prefix: string, a: Attempt) {
    const r = await this.#call<WireHeader & { kvs?: WireKv[] }>(a, "/kv/range", {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
    });
    return { revision: r.header?.revision ?? "0", kvs: (r.kvs ?? []).map(toPair) };
  }

  async txn(compare: Compare[], success: KvOp[], failure: KvOp[], a: Attempt): Promise<TxnResult> {
    try {
      const r = await this.#call<
        WireHeader & { succeeded?: boolean; responses?: { response_range?: { kvs?: WireKv[] } }[] }
      >(a, "/kv/txn", {
        compare: compare.map(toCompare),
        success: success.map(toRequestOp),
        failure: failure.map(toRequestOp),
      });
      return {
        succeeded: r.succeeded === true,
        revision: r.header?.revision ?? "0",
        responses: (r.responses ?? []).map((op) =>
          op.response_range ? { kvs: (op.response_range.kvs ?? []).map(toPair) } : {}
        ),
      };
    } catch (e) {
      if (leaseGone(e)) throw new LeaseNotFoundError((e as Error).message);
      throw e;
    }
  }

  async leaseGrant(ttlS: number, a: Attempt): Promise<string> {
    const r = await this.#call<{ ID?: string; error?: string }>(a, "/lease/grant", { TTL: Math.ceil(ttlS) });
    if (!r.ID) throw new Error(`lease grant failed: ${r.error ?? "no lease id"}`);
    return r.ID;
  }

  /** LeaseKeepAlive is a stream; one request message in the body gets one answer back. */
  async leaseKeepAlive(id: string, a: Attempt): Promise<{ ttlS: number; revision?: string }> {
    try {
      const r = await this.#call<{ result?: WireHeader & { TTL?: string }; error?: { message?: string } }>(
        a,
        "/lease/keepalive",
        { ID: id },
      );
      if (r.error) throw new EtcdApiError(2, r.error.message ?? "lease keepalive failed");
      const revision = r.result?.header?.revision;
      return { ttlS: Number(r.result?.TTL ?? 0), ...(revision ? { revision } : {}) };
    } catch (e) {
      if (leaseGone(e)) return { ttlS: 0 };
      throw e;
    }
  }

  async rangeSummary(prefix: string, a: Attempt) {
    const r = await this.#call<WireHeader & { kvs?: WireKv[]; count?: string }>(a, "/kv/range", {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
      limit: 1,
      sort_order: "DESCEND",
      sort_target: "MOD",
      keys_only: true,
    });
    return {
      revision: r.header?.revision ?? "0",
      count: Number(r.count ?? 0),
      maxModRevision: r.kvs?.[0]?.mod_revision ?? "0",
    };
  }

  /**
   * One watch stream from `startRevision`: `onEvents` gets every batch in order. Resolves when the stream
   * ends (`signal`, error, compaction: `compacted` is then true and the caller must re-read).
   */
  async stream(
    prefix: string,
    startRevision: string,
    handlers: { onCreated: () => void; onEvents: (revision: string, events: KvEvent[]) => void },
    signal: AbortSignal,
  ): Promise<{ compacted: boolean; error?: unknown }> {
    if (this.#closed) return { compacted: false, error: new EtcdEndpointError("etcd client closed") };
    this.#requests++;
    const ep = this.#endpoints.pick();
    const ctl = new AbortController();
    const both = AbortSignal.any([signal, ctl.signal]);
    // A stream not confirmed within a second is on a hung endpoint.
    const confirm = setTimeout(() => ctl.abort(new EtcdEndpointError("watch not confirmed")), 1000);
    try {
      if (this.#auth && !this.#token) await this.#authenticate(ep, both);
      const res = await this.#fetch(ep, "/watch", {
        create_request: { key: b64(prefix), range_end: prefixEnd(prefix), start_revision: startRevision },
      }, both);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return { compacted: false, error: new EtcdEndpointError("watch stream ended") };
        buf += value;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const msg = JSON.parse(line) as {
            result?: WireHeader & {
              created?: boolean;
              canceled?: boolean;
              cancel_reason?: string;
              compact_revision?: string;
              events?: { type?: string; kv?: WireKv }[];
            };
            error?: { message?: string };
          };
          if (msg.error) {
            return { compacted: false, error: new EtcdApiError(2, msg.error.message ?? "watch") };
          }
          const r = msg.result ?? {};
          if (r.created) {
            clearTimeout(confirm);
            handlers.onCreated();
          }
          if (r.compact_revision && r.compact_revision !== "0") return { compacted: true };
          if (r.canceled) {
            return {
              compacted: false,
              error: new EtcdApiError(2, `watch canceled: ${r.cancel_reason ?? ""}`),
            };
          }
          if (r.events?.length) {
            handlers.onEvents(
              r.header?.revision ?? "0",
              r.events.map((ev) => ({
                type: ev.type === "DELETE" ? "delete" : "put",
                kv: toPair(ev.kv ?? {}),
              })),
            );
          }
        }
      }
    } catch (e) {
      if (!signal.aborted) this.#endpoints.failed(ep);
      if (tokenInvalid(e)) this.#token = null;
      return { compacted: false, error: e };
    } finally {
      clearTimeout(confirm);
      ctl.abort();
    }
  }

  async watch(
    prefix: string,
    startRevision: string | null,
    relevant: (key: string) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const clock = this.#clock;
    const deadline = clock.now() + timeoutMs;
    let from = startRevision;
    let backoff = 100;
    while (!this.#closed && !signal?.aborted) {
      const left = deadline - clock.now();
      if (left <= 0) return false;
      const stop = new AbortController();
      let changed = false;
      const timer = new AbortController();
      clock.sleep(left, timer.signal).then(() => stop.abort(), () => {});
      const onOuter = () => stop.abort();
      signal?.addEventListener("abort", onOuter, { once: true });
      const r = await this.stream(prefix, from ?? "0", {
        onCreated: () => {},
        onEvents: (revision, events) => {
          // A failed stream resumes after what it delivered.
          from = String(BigInt(revision) + 1n);
          if (events.some((e) => e.kv.key.startsWith(prefix) && relevant(e.kv.key.slice(prefix.length)))) {
            changed = true;
            stop.abort();
          }
        },
      }, stop.signal);
      timer.abort();
      signal?.removeEventListener("abort", onOuter);
      if (changed || r.compacted) return true;
      if (stop.signal.aborted) return false;
      // The stream failed (endpoint down or hung): resume from another endpoint if any.
      const pause = Math.min(backoff, deadline - clock.now());
      if (pause > 0) {
        try {
          await clock.sleep(pause, signal);
        } catch {
          return false;
        }
      }
      backoff = Math.min(backoff * 2, 1000);
    }
    return false;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#life.abort();
    this.#client?.close();
    return Promise.resolve();
  }
}

/** A DCS client (one member) on etcd v3. */
export class Etcd3Dcs extends KvDcs {
  constructor(settings: Etcd3Settings, opts: DcsOptions & { clock?: Clock }) {
    super("etcd3", new Etcd3Backend(settings, { clock: opts.clock }), opts.clock ?? realClock, opts);
  }
}
