/**
 * Consul backend with Patroni's semantics (reference §2.4).
 *
 * One session per process (`<scope>-<name>`, behavior=delete, lock-delay 1 ms, TTL = ttl/2 because Consul
 * only invalidates a session after 2 × TTL without renewal); it is renewed at most once per loop_wait, always
 * when acquiring or renewing the leader key, and recreated when Consul forgot it. `leader` and
 * `members/<name>` are written with `?acquire=<session>`, so they vanish with the session. Keys live under
 * `service/<scope>/` (no leading slash). Every operation is bounded by retry_timeout, each HTTP request by a
 * third of it; failures surface as `DcsUnavailableError`.
 *
 * Stricter than Patroni where Patroni trusts a stale snapshot: renewing and deleting the leader key check who
 * holds it in Consul, so a client never renews, deletes or steals a key held by another session.
 */
import type { Config } from "../config/schema.ts";
import { realClock } from "../util/clock.ts";
import {
  consulErrorStatus,
  consulErrorText,
  ConsulHttp,
  type ConsulKvEntry,
  type ConsulRead,
} from "./_consul_http.ts";
import { asDcsError, DcsUnavailableError } from "./errors.ts";
import { canonicalJson, patroniJson } from "./json.ts";
import { type Attempt, withRetry } from "./retry.ts";
import {
  type BadDataHandler,
  type RawKey,
  snapshotFromGroupedKeys,
  snapshotFromKeys,
  warnOnceBadData,
} from "./snapshot.ts";
import {
  basePath,
  clientPath,
  type ClusterSnapshot,
  type Dcs,
  type DcsOptions,
  type DcsTimings,
  type LeaderKey,
  type MemberData,
  type StatusValue,
  type SyncValue,
} from "./types.ts";

type Timings = DcsTimings;

/** Consul refused an `acquire` because our session no longer exists. */
class SessionGoneError extends DcsUnavailableError {
  override name = "SessionGoneError";
}

const INVALID_SESSION = /invalid session "/i;
/** Below this much time left a watch just sleeps instead of issuing another blocking query. */
const WATCH_TAIL_MS = 100;
const INVALID_TTL = /Invalid Session TTL '\d+', must be between \[([0-9.a-zµ]+)=/;

/** Seconds of a Go duration such as `10s`, `1m0s` or `500ms` (as in Consul's TTL error); null if unreadable. */
function goDurationS(text: string): number | null {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, "µs": 1e-6, ns: 1e-9 };
  let total = 0;
  let rest = text;
  while (rest.length > 0) {
    const m = /^([0-9.]+)(h|ms|m|s|us|µs|ns)/.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return text.length > 0 && Number.isFinite(total) ? total : null;
}

/** Errors that retrying cannot fix: Consul refused the request itself (4xx) or our session is gone. */
function isPermanent(e: unknown): boolean {
  if (e instanceof SessionGoneError) return true;
  const status = consulErrorStatus(e);
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Warn once per key and problem so a corrupt value does not flood the log every loop. */

export class ConsulDcs implements Dcs {
  readonly kind = "consul" as const;
  readonly #http: ConsulHttp;
  readonly #o: DcsOptions;
  readonly #consistency: "default" | "consistent" | "stale";
  readonly #checks: string[];
  readonly #onBad: BadDataHandler;
  readonly #clock = realClock;
  #timings: Timings;
  #session: string | null = null;
  /** Every session this process created: a key held by one of them is ours to move to the current one. */
  readonly #ownSessions = new Set<string>();
  #lastRenewMs = Number.NEGATIVE_INFINITY;
  /** Raised to the agent's `session_ttl_min` when Consul rejects ttl/2. */
  #sessionTtlMinS = 0;
  /** Our member key as last read or written; null forces the next `touchMember` to write. */
  #ownMember: { json: string; session?: string } | null = null;
  /** `X-Consul-Index` of the last cluster read: where a watch without a leader starts. */
  #lastIndex: string | null = null;
  #closed = false;

  constructor(config: Config, opts: DcsOptions) {
    const c = config.consul;
    if (!c) throw new TypeError("ConsulDcs needs a `consul` section in the configuration");
    this.#http = new ConsulHttp(c);
    this.#o = { ...opts };
    this.#consistency = c.consistency;
    this.#checks = [...c.checks];
    this.#onBad = opts.onBadData ?? warnOnceBadData();
    this.#timings = { ttlS: opts.ttlS, loopWaitS: opts.loopWaitS, retryTimeoutS: opts.retryTimeoutS };
  }

  /** HTTP requests sent to Consul so far. */
  get requestCount(): number {
    return this.#http.requestCount;
  }

  /** The session currently bound to our keys (null until the first write that needs one). */
  get sessionId(): string | null {
    return this.#session;
  }

  /** `service/<scope>[/<group>]/` */
  #prefix(all = false): string {
    const p = all ? basePath(this.#o.namespace, this.#o.scope) : clientPath(this.#o);
    return p.replace(/^\/+/, "") + "/";
  }

  #key(rel: string): string {
    return this.#prefix() + rel;
  }

  // ---- budgets ------------------------------------------------------------------------------------------

  /** Run one DCS operation within retry_timeout; any failure is a `DcsUnavailableError`. */
  async #op<T>(op: string, fn: (deadline: number) => Promise<T>): Promise<T> {
    if (this.#closed) throw new DcsUnavailableError(`${op} failed: the Consul client is closed`);
    try {
      return await fn(this.#clock.now() + this.#timings.retryTimeoutS * 1000);
    } catch (e) {
      this.#ownMember = null; // we no longer know what Consul holds: write our member key next time
      throw asDcsError(op, e);
    }
  }

  /** One HTTP call, retried with backoff until the operation's deadline; each attempt ≤ retry_timeout/3. */
  #send<T>(what: string, deadline: number, fn: (a: Attempt) => Promise<T>): Promise<T> {
    const budgetMs = deadline - this.#clock.now();
    if (budgetMs <= 0) {
      return Promise.reject(
        new DcsUnavailableError(`${what} failed: retry_timeout spent by earlier requests`),
      );
    }
    return withRetry(what, fn, {
      clock: this.#clock,
      budgetMs,
      attemptTimeoutMs: (this.#timings.retryTimeoutS * 1000) / 3,
      isPermanent,
    });
  }

  // ---- session ------------------------------------------------------------------------------------------

  #sessionTtlS(): number {
    return Math.max(this.#timings.ttlS / 2, this.#sessionTtlMinS);
  }

  async #createSession(deadline: number): Promise<string> {
    const create = (a: Attempt) =>
      this.#http.createSession({
        name: `${this.#o.scope}-${this.#o.name}`,
        ttl: `${this.#sessionTtlS()}s`,
        behavior: "delete",
        lockDelay: "0.001s",
        checks: this.#checks,
      }, a);
    const id = await this.#send("create session", deadline, async (a) => {
      try {
        return await create(a);
      } catch (e) {
        // The agent's session_ttl_min is above ttl/2: use it (the key then outlives ttl; Patroni does the same).
        const min = INVALID_TTL.exec(consulErrorText(e));
        const minS = min ? goDurationS(min[1]!) : null;
        if (minS === null || minS <= this.#sessionTtlMinS) throw e;
        this.#sessionTtlMinS = minS;
        console.warn(
          `Consul: session TTL ${this.#timings.ttlS / 2}s is below the agent's minimum, using ${minS}s`,
        );
        return await create(a);
      }
    });
    this.#session = id;
    this.#ownSessions.add(id);
    return id;
  }

  /** Renew (or create) our session; renewal at most once per loop_wait unless forced. */
  async #refreshSession(deadline: number, force: boolean): Promise<string> {
    const sentAt = this.#clock.now();
    if (this.#session && (force || sentAt - this.#lastRenewMs >= this.#timings.loopWaitS * 1000)) {
      const id = this.#session;
      const alive = await this.#send("renew session", deadline, (a) => this.#http.renewSession(id, a));
      if (alive) this.#lastRenewMs = sentAt;
      else if (this.#session === id) this.#session = null;
    }
    if (!this.#session) {
      await this.#createSession(deadline);
      this.#lastRenewMs = sentAt;
    }
    return this.#session!;
  }

  /** `PUT <key>?acquire=<our session>`; a session that vanished meanwhile is recreated once. */
  async #acquire(rel: string, value: string, deadline: number, force: boolean): Promise<boolean> {
    for (let attempt = 0;; attempt++) {
      const session = await this.#refreshSession(deadline, force || attempt > 0);
      try {
        return await this.#send(`acquire ${rel}`, deadline, async (a) => {
          try {
            return await this.#http.put(this.#key(rel), value, { acquire: session }, a);
          } catch (e) {
            if (consulErrorStatus(e) === 500 && INVALID_SESSION.test(consulErrorText(e))) {
              throw new SessionGoneError(`session ${session} is gone`, { cause: e });
            }
            throw e;
          }
        });
      } catch (e) {
        if (!(e instanceof SessionGoneError) || attempt > 0) throw e;
        if (this.#session === session) this.#session = null;
      }
    }
  }

  /** Consistent read of one key (null when absent). */
  async #readKey(rel: string, deadline: number): Promise<ConsulKvEntry | null> {
    const r = await this.#send(
      `read ${rel}`,
      deadline,
      (a) => this.#http.read(this.#key(rel), { consistency: "consistent" }, a),
    );
    return r.entries[0] ?? null;
  }

  // ---- reads --------------------------------------------------------------------------------------------

  getCluster(): Promise<ClusterSnapshot> {
    return this.#op("get cluster", async (deadline) => {
      const all = this.#o.allGroups === true;
      const prefix = this.#prefix(all);
      const r: ConsulRead = await this.#send(
        "get cluster",
        deadline,
        (a) => this.#http.read(prefix, { recurse: true, consistency: this.#consistency }, a),
      );
      const raw: RawKey[] = r.entries.map((e) => ({
        key: e.Key.slice(prefix.length),
        value: e.Value ?? "",
        version: String(e.ModifyIndex),
        ...(e.Session ? { session: e.Session } : {}),
      }));
      const s = all
        ? snapshotFromGroupedKeys(raw, this.#o.group ?? 0, this.#onBad)
        : snapshotFromKeys(raw, this.#onBad);
      this.#lastIndex = r.index;
      const me = s.members.find((m) => m.name === this.#o.name);
      this.#ownMember = me ? { json: canonicalJson(me.data), session: me.session } : null;
      return s;
    });
  }

  // ---- leader key ---------------------------------------------------------------------------------------

  attemptToAcquireLeader(): Promise<boolean> {
    return this.#op("acquire leader lock", (d) => this.#acquire("leader", this.#o.name, d, true));
  }

  /**
   * Renew the session and confirm with an acquire that we hold the key (a no-op write for the holder; it
   * re-creates the key if our session's expiry took it and nobody else took it since, as Patroni does).
   * A key still bound to one of our earlier sessions (ttl change, recreated session) is moved to the current
   * one with a CAS delete and an acquire.
   */
  updateLeader(leader: LeaderKey | null): Promise<boolean> {
    return this.#op("update leader lock", async (d) => {
      if (leader && leader.name !== this.#o.name) return false;
      if (await this.#acquire("leader", this.#o.name, d, true)) return true;
      return await this.#moveToCurrentSession("leader", this.#o.name, this.#o.name, d);
    });
  }

  /**
   * A key we could not acquire: if Consul shows it bound to one of our earlier sessions (ttl change, session
   * recreated), holding `expect` when given, move it to the current session: CAS delete, then acquire with
   * `value`. Otherwise false.
   */
  async #moveToCurrentSession(
    rel: string,
    value: string,
    expect: string | null,
    d: number,
  ): Promise<boolean> {
    const cur = await this.#readKey(rel, d);
    if (!cur || !cur.Session || cur.Session === this.#session || !this.#ownSessions.has(cur.Session)) {
      return false;
    }
    if (expect !== null && cur.Value !== expect) return false;
    const deleted = await this.#send(
      `move ${rel}`,
      d,
      (a) => this.#http.delete(this.#key(rel), { cas: String(cur.ModifyIndex) }, a),
    );
    return deleted && await this.#acquire(rel, value, d, false);
  }

  /** Delete the leader key with CAS, only while Consul shows it held by one of our sessions under our name. */
  deleteLeader(leader: LeaderKey | null): Promise<boolean> {
    return this.#op("delete leader lock", async (d) => {
      if (leader && leader.name !== this.#o.name) return false;
      const cur = await this.#readKey("leader", d);
      if (!cur || cur.Value !== this.#o.name || !cur.Session || !this.#ownSessions.has(cur.Session)) {
        return false;
      }
      return await this.#send(
        "delete leader lock",
        d,
        (a) => this.#http.delete(this.#key("leader"), { cas: String(cur.ModifyIndex) }, a),
      );
    });
  }

  /** Post-bootstrap: acquire, deleting (CAS) whatever holds the key until our acquire wins. */
  takeLeader(): Promise<boolean> {
    return this.#op("take leader lock", async (d) => {
      for (let round = 0; round < 5; round++) {
        if (await this.#acquire("leader", this.#o.name, d, round === 0)) return true;
        const cur = await this.#readKey("leader", d);
        if (cur) {
          await this.#send(
            "take leader lock",
            d,
            (a) => this.#http.delete(this.#key("leader"), { cas: String(cur.ModifyIndex) }, a),
          );
        }
      }
      return false;
    });
  }

  // ---- member key ---------------------------------------------------------------------------------------

  touchMember(data: MemberData): Promise<boolean> {
    return this.#op("touch member", async (d) => {
      const rel = `members/${this.#o.name}`;
      const json = patroniJson(data);
      const session = await this.#refreshSession(d, false);
      const own = this.#ownMember;
      if (own && own.session === session && own.json === canonicalJson(data)) return true;
      if (own?.session && own.session !== session && this.#ownSessions.has(own.session)) {
        // Still bound to an earlier session of ours, so acquire would fail: drop it first (Patroni does too).
        await this.#send("touch member", d, (a) => this.#http.delete(this.#key(rel), {}, a));
      }
      // Our cached view may be stale (e.g. after an outage): move the key if an earlier session holds it.
      const ok = await this.#acquire(rel, json, d, false) ||
        await this.#moveToCurrentSession(rel, json, null, d);
      this.#ownMember = ok ? { json: canonicalJson(data), session: this.#session ?? undefined } : null;
      return ok;
    });
  }

  // ---- other keys ---------------------------------------------------------------------------------------

  #put(op: string, rel: string, value: string, cas?: string): Promise<boolean> {
    return this.#op(op, (d) => this.#send(op, d, (a) => this.#http.put(this.#key(rel), value, { cas }, a)));
  }

  #delete(op: string, rel: string, o: { cas?: string; recurse?: boolean } = {}): Promise<boolean> {
    return this.#op(op, (d) => this.#send(op, d, (a) => this.#http.delete(this.#key(rel), o, a)));
  }

  initialize(create: boolean, sysid: string): Promise<boolean> {
    return this.#put("initialize", "initialize", sysid, create ? "0" : undefined);
  }

  cancelInitialization(): Promise<boolean> {
    return this.#delete("cancel initialization", "initialize");
  }

  setConfigValue(json: string, version?: string): Promise<boolean> {
    return this.#put("set config", "config", json, version);
  }

  setFailoverValue(json: string, version?: string): Promise<boolean> {
    return this.#put("set failover", "failover", json, version);
  }

  /** A PUT answers only true/false, so a consistent read follows to learn the new ModifyIndex (Patroni). */
  setSyncState(value: SyncValue, version?: string): Promise<string | null> {
    return this.#op("set sync state", async (d) => {
      const json = patroniJson(value);
      const ok = await this.#send(
        "set sync state",
        d,
        (a) => this.#http.put(this.#key("sync"), json, { cas: version }, a),
      );
      if (!ok) return null;
      const cur = await this.#readKey("sync", d);
      return cur && cur.Value === json ? String(cur.ModifyIndex) : null;
    });
  }

  deleteSyncState(version?: string): Promise<boolean> {
    return this.#delete("delete sync state", "sync", { cas: version });
  }

  setHistoryValue(json: string): Promise<boolean> {
    return this.#put("set history", "history", json);
  }

  writeStatus(status: StatusValue): Promise<boolean> {
    return this.#put("write status", "status", patroniJson(status));
  }

  writeFailsafe(map: Record<string, string>): Promise<boolean> {
    return this.#put("write failsafe", "failsafe", patroniJson(map));
  }

  async deleteCluster(): Promise<boolean> {
    const ok = await this.#op(
      "delete cluster",
      (d) => this.#send("delete cluster", d, (a) => this.#http.delete(this.#prefix(), { recurse: true }, a)),
    );
    this.#ownMember = null;
    return ok;
  }

  // ---- watch --------------------------------------------------------------------------------------------

  /**
   * Blocking queries on the leader key. With a version: wake when its index differs (changed, deleted, or
   * changed before this call). Without: wake when a leader key appears, starting from the index of our last
   * read so one created since then wakes us at once. Never throws; store errors just mean waiting.
   */
  async watch(leaderVersion: string | null, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = this.#clock.now() + timeoutMs;
    let index = leaderVersion ?? this.#lastIndex ?? "0";
    for (;;) {
      const left = deadline - this.#clock.now();
      if (this.#closed || signal?.aborted || left <= 0) return false;
      if (left < WATCH_TAIL_MS && index !== "0") {
        // Too short for another blocking query to be worth a request: sit out the rest.
        return await this.#clock.sleep(left, signal).then(() => false, () => false);
      }
      try {
        const r = await this.#blockingRead(index, left, signal);
        if (leaderVersion !== null ? r.index !== leaderVersion : r.entries.length > 0) return true;
        if (leaderVersion === null) index = r.index;
      } catch {
        // Unreachable or aborted: pause briefly (never past the deadline), then try again.
        const pause = Math.min(500, deadline - this.#clock.now());
        if (pause <= 0 || this.#closed || signal?.aborted) return false;
        if (!await this.#clock.sleep(pause, signal).then(() => true, () => false)) return false;
      }
    }
  }

  /**
   * One blocking read of the leader key. Consul may answer up to wait/16 late (jitter), so we ask for
   * 16/17 of the time left; the request is cut 100 ms after the deadline in case the store hangs.
   */
  async #blockingRead(index: string, leftMs: number, signal?: AbortSignal): Promise<ConsulRead> {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const cutMs = leftMs + 100;
    const timer = setTimeout(() => ctl.abort(new Error(`watch request exceeded ${cutMs} ms`)), cutMs);
    try {
      return await this.#http.read(
        this.#key("leader"),
        { index, waitMs: (leftMs * 16) / 17, consistency: this.#consistency },
        { n: 1, timeoutMs: cutMs, signal: ctl.signal },
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------

  /** A ttl change takes a new session (TTL is fixed per session); keys move to it on their next write. */
  setTimings(t: Timings): void {
    if (t.ttlS !== this.#timings.ttlS) this.#session = null;
    this.#timings = { ...t };
  }

  /**
   * Forget the session without destroying it: keys bound to it expire by themselves (at most ttl later)
   * unless the caller deleted them first, as with the other backends.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#session = null;
      this.#http.close();
    }
    return Promise.resolve();
  }
}
