/**
 * etcd v3 backend over gRPC (npm:etcd3), with Patroni's key layout and lock semantics (see `kv.ts`).
 *
 * We use the library for connections, auth and TLS only, and issue raw KV/Lease/Watch RPCs: the leader lock is
 * built on our own transactions, not on the library's election helper, and all timing is ours. The library's
 * retry and circuit-breaker policies are replaced by no-ops: `withRetry` owns retries and the retry_timeout
 * deadline, and this module owns endpoint failover. There is one library client per endpoint; requests stick
 * to the current endpoint and move to the next one after a transport failure or a timed-out attempt, skipping
 * endpoints that failed in the last few seconds while another one is still believed healthy.
 */
import { Buffer } from "node:buffer";
import {
  type CallOptionsFactory,
  Etcd3,
  EtcdLeaseInvalidError,
  type ICompare,
  type IKeyValue,
  type IOptions,
  type IRequestOp,
  isRecoverableError,
  type IWatchResponse,
} from "etcd3";
import { type Clock, realClock } from "../util/clock.ts";
import type { Attempt } from "./retry.ts";
import {
  type Compare,
  type KvBackend,
  KvDcs,
  type KvOp,
  type KvPair,
  LeaseNotFoundError,
  type TxnResult,
} from "./kv.ts";
import type { DcsOptions, DcsTimings } from "./types.ts";

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

/**
 * How long a failed endpoint is skipped while another one is still believed healthy. Long enough that a hung
 * member (each try costs a whole attempt timeout) is not retried within one retry_timeout.
 */
const SKIP_FAILED_ENDPOINT_MS = 5000;

type Policy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>;

/** Runs the call once: no retries or circuit breaking inside the library. */
const passThrough = {
  execute: <T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => T | PromiseLike<T>) =>
    Promise.resolve().then(() => fn({ signal: new AbortController().signal, attempt: 1 })),
} as unknown as Policy;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

interface Endpoint {
  host: string;
  client: Etcd3;
  failedUntil: number;
}

/** Errors that say "this endpoint did not serve us", as opposed to answers (lease gone, permission denied). */
function endpointFailure(e: unknown): boolean {
  return e instanceof Error &&
    (isRecoverableError(e) || /UNAVAILABLE|DEADLINE|No connection/i.test(e.message));
}

const enc = (s: string) => Buffer.from(s, "utf8");

/** `range_end` for a prefix scan (the prefix with its last byte incremented). */
function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, "utf8");
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  return Buffer.from([0]);
}

function toPair(kv: IKeyValue): KvPair {
  return {
    key: kv.key.toString("utf8"),
    value: kv.value.toString("utf8"),
    createRevision: String(kv.create_revision),
    modRevision: String(kv.mod_revision),
    lease: String(kv.lease ?? "0"),
  };
}

function toCompare(c: Compare): ICompare {
  const base = { key: enc(c.key), result: "Equal" as const };
  switch (c.target) {
    case "create":
      return { ...base, target: "Create", create_revision: c.createRevision };
    case "mod":
      return { ...base, target: "Mod", mod_revision: c.modRevision };
    case "value":
      return { ...base, target: "Value", value: enc(c.value) };
    case "lease":
      return { ...base, target: "Lease", lease: c.lease };
  }
}

function toRequestOp(op: KvOp): IRequestOp {
  if ("put" in op) {
    const { key, value, lease } = op.put;
    return {
      request_put: { key: enc(key), value: enc(value), ...(lease && lease !== "0" ? { lease } : {}) },
    };
  }
  if ("deleteRange" in op) {
    const { key, prefix } = op.deleteRange;
    return { request_delete_range: { key: enc(key), ...(prefix ? { range_end: prefixEnd(key) } : {}) } };
  }
  return { request_range: { key: enc(op.range.key) } };
}

/** Anything the library says about a lease that is gone. */
function leaseGone(e: unknown): boolean {
  return e instanceof EtcdLeaseInvalidError ||
    (e instanceof Error && e.message.includes("requested lease not found"));
}

export interface Etcd3BackendOptions {
  /** Attempt budget for calls the library makes on its own (auth token exchange). */
  defaultDeadlineMs: () => number;
  clock?: Clock;
}

/** The `KvBackend` port on a real etcd. */
export class Etcd3Backend implements KvBackend {
  readonly #endpoints: Endpoint[];
  #current = 0;
  readonly #clock: Clock;
  #requests = 0;
  #closed = false;

  constructor(settings: Etcd3Settings, opts: Etcd3BackendOptions) {
    this.#clock = opts.clock ?? realClock;
    const { hosts, tls } = etcdEndpoints(settings);
    const callOptions: CallOptionsFactory = (ctx) =>
      ctx.isStream ? {} : { deadline: new Date(Date.now() + opts.defaultDeadlineMs()) };
    const credentials = tls
      ? {
        rootCertificate: settings.cacert ? Buffer.from(Deno.readFileSync(settings.cacert)) : undefined!,
        ...(settings.key ? { privateKey: Buffer.from(Deno.readFileSync(settings.key)) } : {}),
        ...(settings.cert ? { certChain: Buffer.from(Deno.readFileSync(settings.cert)) } : {}),
      }
      : undefined;
    this.#endpoints = hosts.map((host) => {
      const name = host.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
      const options: IOptions = {
        hosts: [(tls ? "https://" : "http://") + host],
        defaultCallOptions: callOptions,
        faultHandling: { global: passThrough, host: () => passThrough },
        grpcOptions: {
          // Reconnect quickly after an endpoint comes back; our deadlines bound everything else.
          "grpc.initial_reconnect_backoff_ms": 100,
          "grpc.max_reconnect_backoff_ms": 1000,
          "grpc.enable_retries": 0,
          // Deno's TLS refuses an IP address as SNI server name; with a trailing dot it is not an IP for SNI,
          // and certificate verification (which strips the dot) still checks the certificate's IP SAN.
          ...(tls && (IPV4.test(name) || name.includes(":"))
            ? { "grpc.ssl_target_name_override": `${name}.` }
            : {}),
        },
        ...(credentials ? { credentials } : {}),
        ...(settings.username
          ? { auth: { username: settings.username, password: settings.password ?? "" } }
          : {}),
      };
      return { host, client: new Etcd3(options), failedUntil: 0 };
    });
  }

  /** The endpoint to use now: the current one unless it failed recently and another one has not. */
  #endpoint(): Endpoint {
    const now = Date.now();
    for (let i = 0; i < this.#endpoints.length; i++) {
      const e = this.#endpoints[(this.#current + i) % this.#endpoints.length]!;
      if (e.failedUntil <= now) {
        this.#current = (this.#current + i) % this.#endpoints.length;
        return e;
      }
    }
    // Every endpoint failed recently: try the next one rather than none.
    this.#current = (this.#current + 1) % this.#endpoints.length;
    return this.#endpoints[this.#current]!;
  }

  #failed(e: Endpoint): void {
    e.failedUntil = Date.now() + SKIP_FAILED_ENDPOINT_MS;
    if (this.#endpoints[this.#current] === e) this.#current = (this.#current + 1) % this.#endpoints.length;
  }

  /** One request on the current endpoint; a transport failure or timeout moves us to the next endpoint. */
  async #call<T>(a: Attempt, fn: (client: Etcd3) => Promise<T>): Promise<T> {
    this.#requests++;
    const ep = this.#endpoint();
    const onTimeout = () => this.#failed(ep);
    a.signal.addEventListener("abort", onTimeout, { once: true });
    try {
      return await fn(ep.client);
    } catch (e) {
      if (endpointFailure(e)) this.#failed(ep);
      throw e;
    } finally {
      a.signal.removeEventListener("abort", onTimeout);
    }
  }

  /** The library clients, one per endpoint (tests and tools). */
  get clients(): Etcd3[] {
    return this.#endpoints.map((e) => e.client);
  }

  get requestCount(): number {
    return this.#requests;
  }

  #opts(a: Attempt) {
    return { deadline: new Date(Date.now() + a.timeoutMs) };
  }

  async range(prefix: string, a: Attempt) {
    const r = await this.#call(
      a,
      (c) => c.kv.range({ key: enc(prefix), range_end: prefixEnd(prefix) }, this.#opts(a)),
    );
    return { revision: String(r.header.revision), kvs: r.kvs.map(toPair) };
  }

  async txn(compare: Compare[], success: KvOp[], failure: KvOp[], a: Attempt): Promise<TxnResult> {
    try {
      const r = await this.#call(a, (c) =>
        c.kv.txn({
          compare: compare.map(toCompare),
          success: success.map(toRequestOp),
          failure: failure.map(toRequestOp),
        }, this.#opts(a)));
      return {
        succeeded: r.succeeded,
        revision: String(r.header.revision),
        responses: r.responses.map((
          op,
        ) => (op.response_range ? { kvs: op.response_range.kvs.map(toPair) } : {})),
      };
    } catch (e) {
      if (leaseGone(e)) throw new LeaseNotFoundError(e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  async leaseGrant(ttlS: number, a: Attempt): Promise<string> {
    const r = await this.#call(
      a,
      (c) => c.leaseClient.leaseGrant({ TTL: Math.ceil(ttlS), ID: 0 }, this.#opts(a)),
    );
    if (r.error) throw new Error(`lease grant failed: ${r.error}`);
    return String(r.ID);
  }

  /** LeaseKeepAlive is a stream in gRPC: open, send one request, read one answer, close. */
  leaseKeepAlive(id: string, a: Attempt): Promise<number> {
    return this.#call(a, (c) => this.#keepAliveOnce(c, id, a));
  }

  async #keepAliveOnce(c: Etcd3, id: string, a: Attempt): Promise<number> {
    const stream = await c.leaseClient.leaseKeepAlive(this.#opts(a));
    try {
      return await new Promise<number>((resolve, reject) => {
        stream.on("data", (r) => resolve(Number(r.TTL)));
        stream.on("error", reject);
        stream.on("end", () => reject(new Error("lease keepalive stream ended without an answer")));
        a.signal.addEventListener("abort", () => reject(a.signal.reason), { once: true });
        stream.write({ ID: id });
      });
    } finally {
      stream.on("error", () => {}); // a late error after we stopped listening must not go unhandled
      stream.end();
      if (a.signal.aborted) stream.cancel();
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
      this.#requests++;
      const ep = this.#endpoint();
      const r = await this.#watchOnce(ep.client, prefix, from, relevant, left, signal).catch(
        (e) => ({ kind: "error" as const, error: e, lastRevision: null }),
      );
      if (r.kind === "changed") return true;
      if (r.kind === "timeout") return false;
      this.#failed(ep);
      // The stream failed (endpoint down or hung): resume after what we saw, from another endpoint if any.
      if (r.lastRevision !== null) from = String(BigInt(r.lastRevision) + 1n);
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

  /** One watch stream; resolves with what ended it. */
  async #watchOnce(
    client: Etcd3,
    prefix: string,
    from: string | null,
    relevant: (key: string) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<{ kind: "changed" | "timeout" | "error"; lastRevision: string | null; error?: unknown }> {
    const stream = await client.watchClient.watch();
    let lastRevision: string | null = null;
    const timers = new AbortController();
    let failed = false;
    try {
      const r = await new Promise<
        { kind: "changed" | "timeout" | "error"; lastRevision: string | null; error?: unknown }
      >(
        (resolve) => {
          const done = (kind: "changed" | "timeout" | "error", error?: unknown) =>
            resolve({ kind, lastRevision, error });
          // A stream that is not confirmed within a request budget is on a hung endpoint: try another.
          const createdWithin = Math.min(timeoutMs, 1000);
          let created = false;
          this.#clock.sleep(createdWithin, timers.signal).then(
            () => created || done("error", new Error("watch not confirmed")),
            () => {},
          );
          this.#clock.sleep(timeoutMs, timers.signal).then(() => done("timeout"), () => {});
          signal?.addEventListener("abort", () => done("timeout"), { once: true, signal: timers.signal });
          stream.on("data", (res: IWatchResponse) => {
            if (res.created) created = true;
            if (res.compact_revision && res.compact_revision !== "0") return done("changed"); // history gone
            if (res.canceled) return done("error", new Error(`watch canceled: ${res.cancel_reason}`));
            if (res.header?.revision) lastRevision = String(res.header.revision);
            for (const ev of res.events ?? []) {
              const key = ev.kv.key.toString("utf8");
              if (key.startsWith(prefix) && relevant(key.slice(prefix.length))) return done("changed");
            }
          });
          stream.on("error", (e) => done("error", e));
          stream.on("end", () => done("error", new Error("watch stream ended")));
          stream.write({
            create_request: {
              key: enc(prefix),
              range_end: prefixEnd(prefix),
              ...(from !== null ? { start_revision: from } : {}),
            },
          });
        },
      );
      failed = r.kind === "error";
      return r;
    } finally {
      timers.abort();
      stream.on("error", () => {});
      // After a normal end, half-close first so the library does not treat our cancel as a broken connection;
      // after a failure, cancel while still writable so it resets that connection.
      if (!failed) stream.end();
      stream.cancel();
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const e of this.#endpoints) e.client.close();
    return Promise.resolve();
  }
}

/** A DCS client (one member) on etcd v3. */
export class Etcd3Dcs extends KvDcs {
  readonly #budget: { retryTimeoutS: number };

  constructor(settings: Etcd3Settings, opts: DcsOptions & { clock?: Clock }) {
    const budget = { retryTimeoutS: opts.retryTimeoutS };
    const backend = new Etcd3Backend(settings, {
      defaultDeadlineMs: () => Math.max(500, (budget.retryTimeoutS * 1000) / 3),
      clock: opts.clock,
    });
    super("etcd3", backend, opts.clock ?? realClock, opts);
    this.#budget = budget;
  }

  override setTimings(t: DcsTimings): void {
    super.setTimings(t);
    this.#budget.retryTimeoutS = t.retryTimeoutS;
  }
}
