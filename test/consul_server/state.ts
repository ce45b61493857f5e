/**
 * The in-memory model behind the Consul test server: KV entries, sessions, raft/table indexes, tombstones,
 * lock-delay and change notification for blocking queries. Semantics follow Consul's state store
 * (agent/consul/state/kvs.go, session handling) as far as our DCS adapter can observe them; see README.md.
 */
import { formatGoDuration, parseGoDuration } from "./duration.ts";

/** An error Consul reports over HTTP with this status and plain-text body. */
export class ConsulApiError extends Error {
  override name = "ConsulApiError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface KvEntry {
  Key: string;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Flags: number;
  Value: Uint8Array;
  /** Lock holder; "" when unlocked. */
  Session: string;
}

export interface SessionRecord {
  ID: string;
  Name: string;
  Node: string;
  /** Nanoseconds, as Consul reports it. */
  LockDelay: number;
  Behavior: "release" | "delete";
  TTL: string;
  NodeChecks: string[] | null;
  ServiceChecks: null;
  CreateIndex: number;
  ModifyIndex: number;
}

export type KvWrite =
  | { op: "set" }
  | { op: "cas"; index: number }
  | { op: "lock"; session: string }
  | { op: "unlock"; session: string };

export interface ConsulStateOptions {
  /** Name of the one node this agent serves. @default "consul-test" */
  nodeName?: string;
  /** Consul's `session_ttl_min`: TTLs below are rejected. @default 10_000 */
  sessionTtlMinMs?: number;
}

/** Consul invalidates a TTL session only after TTL × this multiplier without renewal. */
export const SESSION_TTL_MULTIPLIER = 2;
const SESSION_TTL_MAX_NS = 24 * 3600e9;
const MAX_LOCK_DELAY_MS = 60_000;
/** Node health check every agent has; the only check this server knows. */
const SERF_CHECK = "serfHealth";

interface Watcher {
  key: string;
  prefix: boolean;
  wake: () => void;
}

interface LiveSession extends SessionRecord {
  timer?: ReturnType<typeof setTimeout>;
  ttlMs: number;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Consul's DirEntry.Equal: indexes are ignored. */
function entryEqual(a: KvEntry, b: KvEntry): boolean {
  return a.Key === b.Key && a.Flags === b.Flags && a.LockIndex === b.LockIndex && a.Session === b.Session &&
    bytesEqual(a.Value, b.Value);
}

export class ConsulState {
  readonly nodeName: string;
  readonly sessionTtlMinMs: number;
  /** Raft index: every applied write takes the next one, whether or not it changed anything. */
  #raftIndex = 10;
  #kvsIndex = 0;
  #sessionsIndex = 0;
  #kv = new Map<string, KvEntry>();
  #tombstones = new Map<string, number>();
  #sessions = new Map<string, LiveSession>();
  /** Key → wall-clock ms until which `acquire` is refused. */
  #lockDelayUntil = new Map<string, number>();
  #watchers = new Set<Watcher>();
  #closed = false;

  constructor(opts: ConsulStateOptions = {}) {
    this.nodeName = opts.nodeName ?? "consul-test";
    this.sessionTtlMinMs = opts.sessionTtlMinMs ?? 10_000;
  }

  // ---- sessions -------------------------------------------------------------------------------------

  /** `PUT /v1/session/create` with an already JSON-decoded body. Returns the new session ID. */
  createSession(body: Record<string, unknown>): string {
    const field = (name: string): unknown => {
      for (const [k, v] of Object.entries(body)) if (k.toLowerCase() === name.toLowerCase()) return v;
      return undefined;
    };
    let lockDelayNs = 15e9;
    const rawDelay = field("LockDelay");
    if (rawDelay !== undefined) {
      let ns: number;
      if (typeof rawDelay === "string") {
        try {
          ns = parseGoDuration(rawDelay);
        } catch (e) {
          throw new ConsulApiError(400, `Request decode failed: ${(e as Error).message}`);
        }
      } else if (typeof rawDelay === "number") ns = Math.trunc(rawDelay);
      else throw new ConsulApiError(400, "Request decode failed: LockDelay: expected a duration");
      // Consul reads small numbers as seconds (users send `5` meaning 5s).
      lockDelayNs = ns < 1000 ? ns * 1e9 : ns;
    }
    const checksRaw = field("Checks") ?? field("NodeChecks");
    const checks = checksRaw === undefined ? [SERF_CHECK] : checksRaw;
    if (checks !== null && (!Array.isArray(checks) || checks.some((c) => typeof c !== "string"))) {
      throw new ConsulApiError(400, "Request decode failed: Checks: expected a list of check IDs");
    }
    const serviceChecks = field("ServiceChecks");
    const behavior = (field("Behavior") ?? "") as string;
    const ttl = (field("TTL") ?? "") as string;
    const node = (field("Node") ?? this.nodeName) as string;
    const name = (field("Name") ?? "") as string;

    if (behavior !== "" && behavior !== "release" && behavior !== "delete") {
      throw new ConsulApiError(500, `Invalid Behavior setting '${behavior}'`);
    }
    if (ttl !== "") {
      let ns: number;
      try {
        ns = parseGoDuration(ttl);
      } catch (e) {
        throw new ConsulApiError(500, `Session TTL '${ttl}' invalid: ${(e as Error).message}`);
      }
      if (ns !== 0 && (ns < this.sessionTtlMinMs * 1e6 || ns > SESSION_TTL_MAX_NS)) {
        throw new ConsulApiError(
          500,
          `Invalid Session TTL '${ns}', must be between [${formatGoDuration(this.sessionTtlMinMs * 1e6)}=${
            formatGoDuration(SESSION_TTL_MAX_NS)
          }]`,
        );
      }
    }
    const idx = ++this.#raftIndex;
    if (node !== this.nodeName) throw new ConsulApiError(500, "Missing node registration");
    for (const c of (checks as string[] | null) ?? []) {
      if (c !== SERF_CHECK) throw new ConsulApiError(500, `Missing check '${c}' registration`);
    }
    if (Array.isArray(serviceChecks) && serviceChecks.length > 0) {
      const id = (serviceChecks[0] as { ID?: string }).ID ?? "";
      throw new ConsulApiError(500, `Missing service check '${id}' registration`);
    }
    const id = crypto.randomUUID();
    const ttlMs = ttl === "" ? 0 : parseGoDuration(ttl) / 1e6;
    const s: LiveSession = {
      ID: id,
      Name: name,
      Node: node,
      LockDelay: lockDelayNs,
      Behavior: behavior === "delete" ? "delete" : "release",
      TTL: ttl,
      NodeChecks: (checks as string[] | null) ?? null,
      ServiceChecks: null,
      CreateIndex: idx,
      ModifyIndex: idx,
      ttlMs,
    };
    this.#sessions.set(id, s);
    this.#sessionsIndex = idx;
    this.#armTimer(s);
    return id;
  }

  /** `PUT /v1/session/renew/:id`: the session, or null when it does not exist. */
  renewSession(id: string): SessionRecord | null {
    const s = this.#sessions.get(id);
    if (!s) return null;
    this.#armTimer(s);
    return this.#sessionView(s);
  }

  /** `PUT /v1/session/destroy/:id`: idempotent. */
  destroySession(id: string): void {
    const idx = ++this.#raftIndex;
    if (this.#sessions.has(id)) this.#invalidate(id, idx);
  }

  /** `GET /v1/session/info/:id`. */
  sessionInfo(id: string): { index: number; sessions: SessionRecord[] } {
    const s = this.#sessions.get(id);
    return { index: Math.max(1, this.#sessionsIndex), sessions: s ? [this.#sessionView(s)] : [] };
  }

  /** Test hook: invalidate a session now, as if its TTL had run out. */
  expireSession(id: string): boolean {
    if (!this.#sessions.has(id)) return false;
    this.#invalidate(id, ++this.#raftIndex);
    return true;
  }

  sessionIds(): string[] {
    return [...this.#sessions.keys()];
  }

  #sessionView(s: LiveSession): SessionRecord {
    const { timer: _t, ttlMs: _m, ...view } = s;
    return structuredClone(view);
  }

  #armTimer(s: LiveSession): void {
    if (s.timer !== undefined) clearTimeout(s.timer);
    s.timer = undefined;
    if (s.ttlMs <= 0 || this.#closed) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      if (this.#sessions.get(s.ID) === s) this.#invalidate(s.ID, ++this.#raftIndex);
    }, s.ttlMs * SESSION_TTL_MULTIPLIER);
  }

  /** Drop a session: release or delete the keys it holds and start their lock-delay. */
  #invalidate(id: string, idx: number): void {
    const s = this.#sessions.get(id);
    if (!s) return;
    if (s.timer !== undefined) clearTimeout(s.timer);
    this.#sessions.delete(id);
    this.#sessionsIndex = idx;
    const delayMs = Math.min(s.LockDelay / 1e6, MAX_LOCK_DELAY_MS);
    const changed: string[] = [];
    for (const e of [...this.#kv.values()]) {
      if (e.Session !== id) continue;
      if (s.Behavior === "release") this.#set(idx, { ...e, Session: "" }, true, changed);
      else this.#deleteKey(idx, e.Key, changed);
      if (delayMs > 0) this.#lockDelayUntil.set(e.Key, Date.now() + delayMs);
    }
    this.#notify(changed);
  }

  // ---- KV ---------------------------------------------------------------------------------------------

  /** Single-key read: the entry (if any) and the index a blocking query on it compares against. */
  get(key: string): { index: number; entry?: KvEntry } {
    const e = this.#kv.get(key);
    if (e) return { index: e.ModifyIndex, entry: structuredClone(e) };
    return { index: Math.max(1, this.#kvsIndex) };
  }

  /** Prefix read: entries sorted by key; index = newest entry or tombstone under the prefix. */
  list(prefix: string): { index: number; entries: KvEntry[] } {
    const entries = [...this.#kv.values()].filter((e) => e.Key.startsWith(prefix))
      .sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0));
    let index = 0;
    if (prefix === "") index = this.#kvsIndex;
    else {
      for (const e of entries) index = Math.max(index, e.ModifyIndex);
      for (const [k, i] of this.#tombstones) if (k.startsWith(prefix)) index = Math.max(index, i);
    }
    if (index === 0) index = this.#kvsIndex;
    return { index: Math.max(1, index), entries: structuredClone(entries) };
  }

  /** `PUT /v1/kv/:key`; false when a CAS, acquire, release or lock-delay check refuses it. */
  put(key: string, value: Uint8Array, write: KvWrite, flags = 0): boolean {
    if (write.op === "lock") {
      // Lock-delay is enforced before the write reaches raft: no index is consumed.
      const until = this.#lockDelayUntil.get(key);
      if (until !== undefined && until > Date.now()) return false;
    }
    const idx = ++this.#raftIndex;
    const existing = this.#kv.get(key);
    const changed: string[] = [];
    const base = { Key: key, Flags: flags, Value: value, CreateIndex: 0, ModifyIndex: 0 };
    switch (write.op) {
      case "set":
        this.#set(idx, { ...base, LockIndex: 0, Session: "" }, false, changed);
        break;
      case "cas":
        if (write.index === 0 && existing) return false;
        if (write.index !== 0 && (!existing || existing.ModifyIndex !== write.index)) return false;
        this.#set(idx, { ...base, LockIndex: 0, Session: "" }, false, changed);
        break;
      case "lock": {
        if (write.session === "") throw new ConsulApiError(500, "missing session");
        if (!this.#sessions.has(write.session)) {
          throw new ConsulApiError(500, `invalid session ${JSON.stringify(write.session)}`);
        }
        let lockIndex = 1;
        if (existing) {
          if (existing.Session === write.session) lockIndex = existing.LockIndex;
          else if (existing.Session !== "") return false;
          else lockIndex = existing.LockIndex + 1;
        }
        this.#set(idx, { ...base, LockIndex: lockIndex, Session: write.session }, true, changed);
        break;
      }
      case "unlock":
        if (write.session === "") throw new ConsulApiError(500, "missing session");
        if (!existing || existing.Session !== write.session) return false;
        this.#set(idx, { ...base, LockIndex: existing.LockIndex, Session: "" }, true, changed);
        break;
    }
    this.#notify(changed);
    return true;
  }

  /** `DELETE /v1/kv/:key` (optionally `recurse` or `cas`). */
  delete(key: string, opts: { recurse?: boolean; cas?: number } = {}): boolean {
    const idx = ++this.#raftIndex;
    const changed: string[] = [];
    if (opts.cas !== undefined) {
      const e = this.#kv.get(key);
      // Consul: a missing key counts as deleted; an index mismatch (including cas=0) refuses.
      if (!e) return true;
      if (e.ModifyIndex !== opts.cas) return false;
      this.#deleteKey(idx, key, changed);
    } else if (opts.recurse) {
      for (const k of [...this.#kv.keys()]) if (k.startsWith(key)) this.#deleteKey(idx, k, changed);
    } else this.#deleteKey(idx, key, changed);
    this.#notify(changed);
    return true;
  }

  #set(idx: number, entry: KvEntry, updateSession: boolean, changed: string[]): void {
    const existing = this.#kv.get(entry.Key);
    const next: KvEntry = {
      ...entry,
      CreateIndex: existing ? existing.CreateIndex : idx,
      Session: updateSession ? entry.Session : existing?.Session ?? "",
      ModifyIndex: idx,
    };
    // Consul skips writes that change nothing, so the ModifyIndex stays and no watcher wakes.
    if (existing && entryEqual(existing, next)) return;
    this.#kv.set(next.Key, next);
    this.#tombstones.delete(next.Key);
    this.#kvsIndex = idx;
    changed.push(next.Key);
  }

  #deleteKey(idx: number, key: string, changed: string[]): void {
    if (!this.#kv.delete(key)) return;
    this.#tombstones.set(key, idx);
    this.#kvsIndex = idx;
    changed.push(key);
  }

  // ---- blocking queries -------------------------------------------------------------------------------

  /**
   * Resolve `true` when a key in scope (`key` exactly, or every key under it with `prefix`) changes,
   * `false` after `ms`, on abort or when the state is closed.
   */
  waitForChange(scope: { key: string; prefix: boolean }, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (woken: boolean) => {
        clearTimeout(timer);
        this.#watchers.delete(w);
        signal?.removeEventListener("abort", onAbort);
        resolve(woken);
      };
      const w: Watcher = { ...scope, wake: () => finish(true) };
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), Math.max(0, ms));
      this.#watchers.add(w);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #notify(keys: string[]): void {
    if (keys.length === 0) return;
    for (const w of [...this.#watchers]) {
      if (keys.some((k) => (w.prefix ? k.startsWith(w.key) : k === w.key))) w.wake();
    }
  }

  /** Stop session timers and release every blocked query. */
  close(): void {
    this.#closed = true;
    for (const s of this.#sessions.values()) if (s.timer !== undefined) clearTimeout(s.timer);
    for (const w of [...this.#watchers]) w.wake();
  }
}
