/**
 * ZooKeeper backend with Patroni's semantics (reference §2.5).
 *
 * The session (timeout = ttl) is the lease: `leader` and `members/<name>` are ephemeral znodes of it. Renewing
 * the leader writes nothing unless the node belongs to another session of ours; deleting the leader ends the
 * session (which drops our ephemerals, member key included) and the next operation opens a new one. CAS uses
 * znode versions; "deleting" `sync` writes `{}`. Watches on `leader` and `config` wake the HA loop.
 * Every operation is bounded by retry_timeout (each attempt by a third of it); connection loss and everything
 * unexpected surface as `DcsUnavailableError`.
 *
 * Stricter than Patroni: renewing or deleting the leader checks the node's value and owner first, so a client
 * never removes a leader node held by another session; a ttl change opens the new session first and moves our
 * ephemerals to it atomically (multi: delete + create), so the leader key never disappears in between.
 */
import type { Config } from "../config/schema.ts";
import { realClock } from "../util/clock.ts";
import { ZK, zkCode, type ZkData, ZkSession } from "./_zk_session.ts";
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

/** Plain keys of a cluster directory, read with one `getData` each when present. */
const PLAIN_KEYS = ["initialize", "config", "leader", "history", "failover", "sync", "status", "failsafe"];
const GROUP_RE = /^(0|[1-9][0-9]*)$/;

/** Codes retrying cannot fix. */
function isPermanent(e: unknown): boolean {
  const c = zkCode(e);
  return c === ZK.NO_AUTH || c === ZK.INVALID_ACL || c === ZK.AUTH_FAILED;
}

export class ZooKeeperDcs implements Dcs {
  readonly kind = "zookeeper" as const;
  readonly #hosts: string;
  readonly #o: DcsOptions;
  readonly #onBad: BadDataHandler;
  readonly #clock = realClock;
  #timings: Timings;
  #session: ZkSession | null = null;
  /** Session timeout (ms) the current session was opened with. */
  #sessionTtlMs = 0;
  /** Hex ids of every session this process opened: their ephemerals are ours to move. */
  readonly #ownSessions = new Set<string>();
  #requests = 0;
  /** A watched node changed since the last `getCluster`. */
  #changed = false;
  readonly #wakers = new Set<() => void>();
  /** One watcher function for every path: the library keeps one registration per (path, function). */
  readonly #watcher = () => {
    this.#changed = true;
    for (const w of [...this.#wakers]) w();
  };
  /** Our member node as last read or written; null forces the next `touchMember` to write. */
  #ownMember: { json: string; owner?: string } | null = null;
  #closed = false;

  constructor(config: Config, opts: DcsOptions) {
    const z = config.zookeeper;
    if (!z) throw new TypeError("ZooKeeperDcs needs a `zookeeper` section in the configuration");
    // Refuse rather than silently run without the transport security or ACLs the operator asked for.
    if (z.useSsl) throw new TypeError("zookeeper.useSsl is not supported by pgwarden's ZooKeeper client");
    if (z.setAcls) throw new TypeError("zookeeper.setAcls is not supported by pgwarden's ZooKeeper client");
    this.#hosts = z.hosts.join(",");
    this.#o = { ...opts };
    this.#onBad = opts.onBadData ?? warnOnceBadData();
    this.#timings = { ttlS: opts.ttlS, loopWaitS: opts.loopWaitS, retryTimeoutS: opts.retryTimeoutS };
  }

  /** ZooKeeper requests sent so far. */
  get requestCount(): number {
    return this.#requests;
  }

  /** Hex id of the current session (null before the first connection). */
  get sessionId(): string | null {
    return this.#session?.id ?? null;
  }

  #dir(all = false): string {
    return all ? basePath(this.#o.namespace, this.#o.scope) : clientPath(this.#o);
  }

  #path(rel: string): string {
    return `${this.#dir()}/${rel}`;
  }

  // ---- budgets and session ------------------------------------------------------------------------------

  async #op<T>(op: string, fn: (deadline: number) => Promise<T>): Promise<T> {
    if (this.#closed) throw new DcsUnavailableError(`${op} failed: the ZooKeeper client is closed`);
    try {
      return await fn(this.#clock.now() + this.#timings.retryTimeoutS * 1000);
    } catch (e) {
      this.#ownMember = null;
      throw asDcsError(op, e);
    }
  }

  /** Run `fn` (one or more requests on a connected session) with retries until `deadline`. */
  #send<T>(what: string, deadline: number, fn: (s: ZkSession, a: Attempt) => Promise<T>): Promise<T> {
    const budgetMs = deadline - this.#clock.now();
    if (budgetMs <= 0) {
      return Promise.reject(
        new DcsUnavailableError(`${what} failed: retry_timeout spent by earlier requests`),
      );
    }
    return withRetry(what, async (a) => fn(await this.#connected(a), a), {
      clock: this.#clock,
      budgetMs,
      attemptTimeoutMs: (this.#timings.retryTimeoutS * 1000) / 3,
      isPermanent,
    });
  }

  #open(ttlMs: number): ZkSession {
    this.#sessionTtlMs = ttlMs;
    return new ZkSession(this.#hosts, ttlMs, () => this.#requests++);
  }

  /** The current session, connected; opens one when there is none, it expired, or ttl changed. */
  async #connected(a: Attempt): Promise<ZkSession> {
    const ttlMs = this.#timings.ttlS * 1000;
    let s = this.#session;
    if (s && !s.dead && this.#sessionTtlMs !== ttlMs) return await this.#swapSession(s, ttlMs, a);
    if (!s || s.dead) s = this.#session = this.#open(ttlMs);
    await s.waitConnected(a.timeoutMs, a.signal);
    const id = s.id;
    if (id) this.#ownSessions.add(id);
    return s;
  }

  /**
   * ttl changed: a session's timeout is fixed, so open one with the new ttl, move our ephemeral nodes to it
   * (each in one multi), then close the old session. On failure the old session stays in place.
   */
  async #swapSession(old: ZkSession, ttlMs: number, a: Attempt): Promise<ZkSession> {
    const oldTtlMs = this.#sessionTtlMs;
    const fresh = this.#open(ttlMs);
    try {
      await fresh.waitConnected(a.timeoutMs, a.signal);
      const id = fresh.id;
      if (id) this.#ownSessions.add(id);
      for (const rel of ["leader", `members/${this.#o.name}`]) {
        const cur = await fresh.getData(this.#path(rel), a);
        if (cur && cur.owner === old.id) {
          await fresh.replaceWithEphemeral(this.#path(rel), cur.version, cur.data, a);
        }
      }
    } catch (e) {
      this.#sessionTtlMs = oldTtlMs; // the old session stays; the next operation tries again
      await fresh.close(0);
      throw e;
    }
    this.#session = fresh;
    this.#ownMember = null;
    await old.close(Math.min(1000, a.timeoutMs));
    return fresh;
  }

  /** Create `path` (ephemeral or not), making persistent parents when missing. */
  async #create(s: ZkSession, path: string, data: string, ephemeral: boolean, a: Attempt): Promise<boolean> {
    for (let i = 0;; i++) {
      try {
        await s.create(path, data, ephemeral, a);
        return true;
      } catch (e) {
        const c = zkCode(e);
        if (c === ZK.NODE_EXISTS) return false;
        if (c !== ZK.NO_NODE || i > 0) throw e;
        await s.mkdirp(path.slice(0, path.lastIndexOf("/")), a);
      }
    }
  }

  // ---- reads --------------------------------------------------------------------------------------------

  /** Read one cluster directory as raw keys (relative to `dir`, prefixed with `prefix`). */
  async #readDir(s: ZkSession, dir: string, prefix: string, watch: boolean, a: Attempt): Promise<RawKey[]> {
    const children = new Set(await s.children(dir, a));
    const keys: RawKey[] = [];
    const add = (rel: string, d: ZkData | null) => {
      if (d) keys.push({ key: prefix + rel, value: d.data, version: String(d.version), session: d.owner });
    };
    const reads: Promise<void>[] = [];
    for (const rel of PLAIN_KEYS) {
      const path = `${dir}/${rel}`;
      const watched = watch && (rel === "leader" || rel === "config");
      if (children.has(rel)) {
        reads.push(
          s.getData(path, a, watched ? this.#watcher : undefined).then((d) => {
            // Gone between listing and reading: the state moved on, make the next watch return at once.
            if (!d && watched) this.#changed = true;
            add(rel, d);
          }),
        );
      } else if (watched) {
        // Watch for its creation; if it appeared since the listing, the snapshot is already stale.
        reads.push(
          s.exists(path, a, this.#watcher).then((there) => {
            if (there) this.#changed = true;
          }),
        );
      }
    }
    if (children.has("members")) {
      reads.push((async () => {
        const names = await s.children(`${dir}/members`, a);
        await Promise.all(
          names.map(async (n) => add(`members/${n}`, await s.getData(`${dir}/members/${n}`, a))),
        );
      })());
    }
    if (children.has("optime")) {
      reads.push(s.getData(`${dir}/optime/leader`, a).then((d) => add("optime/leader", d)));
    }
    await Promise.all(reads);
    return keys;
  }

  getCluster(): Promise<ClusterSnapshot> {
    return this.#op("get cluster", async (d) => {
      const all = this.#o.allGroups === true;
      this.#changed = false;
      const raw = await this.#send("get cluster", d, async (s, a) => {
        if (!all) return await this.#readDir(s, this.#dir(), "", true, a);
        const base = this.#dir(true);
        const own = String(this.#o.group ?? 0);
        const groups = (await s.children(base, a)).filter((g) => GROUP_RE.test(g));
        const parts = await Promise.all(
          groups.map((g) => this.#readDir(s, `${base}/${g}`, `${g}/`, g === own, a)),
        );
        return parts.flat();
      });
      const snap = all
        ? snapshotFromGroupedKeys(raw, this.#o.group ?? 0, this.#onBad)
        : snapshotFromKeys(raw, this.#onBad);
      const me = snap.members.find((m) => m.name === this.#o.name);
      this.#ownMember = me ? { json: canonicalJson(me.data), owner: me.session } : null;
      return snap;
    });
  }

  // ---- leader -------------------------------------------------------------------------------------------

  attemptToAcquireLeader(): Promise<boolean> {
    return this.#op("acquire leader lock", (d) =>
      this.#send("acquire leader lock", d, async (s, a) => {
        if (await this.#create(s, this.#path("leader"), this.#o.name, true, a)) return true;
        // An earlier attempt may have created it before its answer got lost.
        const cur = await s.getData(this.#path("leader"), a);
        return cur !== null && cur.data === this.#o.name && cur.owner === s.id;
      }));
  }

  /**
   * No write while the node is ours; re-create it if our session lost it and nobody took it since (as
   * Patroni's other backends do); move it when it belongs to an earlier session of ours.
   */
  updateLeader(leader: LeaderKey | null): Promise<boolean> {
    return this.#op("update leader lock", (d) =>
      this.#send("update leader lock", d, async (s, a) => {
        if (leader && leader.name !== this.#o.name) return false;
        const path = this.#path("leader");
        const cur = await s.getData(path, a);
        if (!cur) return await this.#create(s, path, this.#o.name, true, a);
        if (cur.data !== this.#o.name || !cur.owner) return false;
        if (cur.owner === s.id) return true;
        if (!this.#ownSessions.has(cur.owner)) return false;
        try {
          await s.replaceWithEphemeral(path, cur.version, this.#o.name, a);
          return true;
        } catch (e) {
          const c = zkCode(e);
          if (c === ZK.BAD_VERSION || c === ZK.NO_NODE || c === ZK.NODE_EXISTS) return false;
          throw e;
        }
      }));
  }

  /** Only when the node carries our name and session: end the session, which drops it (Patroni). */
  deleteLeader(leader: LeaderKey | null): Promise<boolean> {
    return this.#op("delete leader lock", async (d) => {
      if (leader && leader.name !== this.#o.name) return false;
      const mine = await this.#send("delete leader lock", d, async (s, a) => {
        const cur = await s.getData(this.#path("leader"), a);
        return cur !== null && cur.data === this.#o.name && cur.owner === s.id;
      });
      if (!mine) return false;
      await this.#restartSession(d);
      return true;
    });
  }

  /** Close the session (ZooKeeper deletes our ephemerals before answering); the next operation opens a new one. */
  async #restartSession(deadline: number): Promise<void> {
    const s = this.#session;
    this.#session = null;
    this.#ownMember = null;
    if (s) await s.close(Math.max(0, deadline - this.#clock.now()));
  }

  /** Post-bootstrap: create, or replace (multi) whatever node is there. */
  takeLeader(): Promise<boolean> {
    return this.#op("take leader lock", (d) =>
      this.#send("take leader lock", d, async (s, a) => {
        const path = this.#path("leader");
        for (let round = 0; round < 5; round++) {
          if (await this.#create(s, path, this.#o.name, true, a)) return true;
          const cur = await s.getData(path, a);
          if (!cur) continue;
          if (cur.owner === s.id && cur.data === this.#o.name) return true;
          try {
            await s.replaceWithEphemeral(path, cur.version, this.#o.name, a);
            return true;
          } catch (e) {
            const c = zkCode(e);
            if (c !== ZK.BAD_VERSION && c !== ZK.NO_NODE && c !== ZK.NODE_EXISTS) throw e;
          }
        }
        return false;
      }));
  }

  // ---- member -------------------------------------------------------------------------------------------

  touchMember(data: MemberData): Promise<boolean> {
    return this.#op("touch member", (d) =>
      this.#send("touch member", d, async (s, a) => {
        const path = this.#path(`members/${this.#o.name}`);
        const json = patroniJson(data);
        const own = this.#ownMember;
        if (own && own.owner === s.id && own.json === canonicalJson(data)) return true;
        let done = false;
        if (own && own.owner === s.id) {
          try {
            await s.setData(path, json, -1, a);
            done = true;
          } catch (e) {
            if (zkCode(e) !== ZK.NO_NODE) throw e;
          }
        }
        if (!done && !await this.#create(s, path, json, true, a)) {
          // Exists: ours → update; another (older) session's → take it over in one multi (Patroni deletes it).
          const cur = await s.getData(path, a);
          if (cur && cur.owner === s.id) await s.setData(path, json, cur.version, a);
          else if (cur) await s.replaceWithEphemeral(path, cur.version, json, a);
          else if (!await this.#create(s, path, json, true, a)) return false;
        }
        this.#ownMember = { json: canonicalJson(data), owner: s.id ?? undefined };
        return true;
      }));
  }

  // ---- other keys ---------------------------------------------------------------------------------------

  /**
   * Write a persistent key. With `version`: only if the node is still at it (false when changed or absent).
   * Without: overwrite, creating it when missing. Returns the new version, or null when the CAS lost.
   */
  #set(
    s: ZkSession,
    rel: string,
    value: string,
    version: string | undefined,
    a: Attempt,
  ): Promise<number | null> {
    const path = this.#path(rel);
    const attempt = async (): Promise<number | null> => {
      try {
        return await s.setData(path, value, version === undefined ? -1 : Number(version), a);
      } catch (e) {
        const c = zkCode(e);
        if (c === ZK.BAD_VERSION) return null;
        if (c !== ZK.NO_NODE) throw e;
      }
      if (version !== undefined) return null;
      if (await this.#create(s, path, value, false, a)) return 0;
      return await s.setData(path, value, -1, a); // created meanwhile by someone else: overwrite
    };
    return attempt();
  }

  #write(op: string, rel: string, value: string, version?: string): Promise<boolean> {
    if (version !== undefined && !/^[0-9]+$/.test(version)) return Promise.resolve(false);
    return this.#op(
      op,
      (d) => this.#send(op, d, async (s, a) => (await this.#set(s, rel, value, version, a)) !== null),
    );
  }

  initialize(create: boolean, sysid: string): Promise<boolean> {
    if (!create) return this.#write("initialize", "initialize", sysid);
    return this.#op(
      "initialize",
      (d) =>
        this.#send("initialize", d, (s, a) => this.#create(s, this.#path("initialize"), sysid, false, a)),
    );
  }

  cancelInitialization(): Promise<boolean> {
    return this.#op("cancel initialization", (d) =>
      this.#send("cancel initialization", d, async (s, a) => {
        try {
          await s.remove(this.#path("initialize"), -1, a);
        } catch (e) {
          if (zkCode(e) !== ZK.NO_NODE) throw e;
        }
        return true;
      }));
  }

  setConfigValue(json: string, version?: string): Promise<boolean> {
    return this.#write("set config", "config", json, version);
  }

  setFailoverValue(json: string, version?: string): Promise<boolean> {
    return this.#write("set failover", "failover", json, version);
  }

  setSyncState(value: SyncValue, version?: string): Promise<string | null> {
    if (version !== undefined && !/^[0-9]+$/.test(version)) return Promise.resolve(null);
    return this.#op("set sync state", (d) =>
      this.#send("set sync state", d, async (s, a) => {
        const v = await this.#set(s, "sync", patroniJson(value), version, a);
        return v === null ? null : String(v);
      }));
  }

  /** ZooKeeper keeps the node and writes `{}` (Patroni), with CAS when `version` is given. */
  deleteSyncState(version?: string): Promise<boolean> {
    return this.#write("delete sync state", "sync", "{}", version);
  }

  setHistoryValue(json: string): Promise<boolean> {
    return this.#write("set history", "history", json);
  }

  writeStatus(status: StatusValue): Promise<boolean> {
    return this.#write("write status", "status", patroniJson(status));
  }

  writeFailsafe(map: Record<string, string>): Promise<boolean> {
    return this.#write("write failsafe", "failsafe", patroniJson(map));
  }

  /** Delete our cluster's subtree, deepest nodes first (children created meanwhile restart the attempt). */
  async deleteCluster(): Promise<boolean> {
    const ok = await this.#op("delete cluster", (d) =>
      this.#send("delete cluster", d, async (s, a) => {
        const order: string[] = [];
        let level = [this.#dir()];
        while (level.length > 0) {
          order.push(...level);
          const next = await Promise.all(
            level.map(async (p) => (await s.children(p, a)).map((c) => `${p}/${c}`)),
          );
          level = next.flat();
        }
        for (const path of order.reverse()) {
          try {
            await s.remove(path, -1, a);
          } catch (e) {
            if (zkCode(e) !== ZK.NO_NODE) throw e;
          }
        }
        return true;
      }));
    this.#ownMember = null;
    return ok;
  }

  // ---- watch --------------------------------------------------------------------------------------------

  /**
   * Wait for a watched change (leader or config, armed by the last `getCluster`), including one that
   * happened since that read. The version is not needed: ZooKeeper's watches see every change.
   */
  watch(_leaderVersion: string | null, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    if (this.#changed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (v: boolean) => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        signal?.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const wake = () => finish(true);
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), Math.max(0, timeoutMs));
      this.#wakers.add(wake);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------

  /** A new ttl takes effect with the next operation, which opens a session with it and moves our keys there. */
  setTimings(t: Timings): void {
    this.#timings = { ...t };
  }

  /**
   * Stop using the session without ending it: our ephemeral nodes live until ZooKeeper expires the session
   * (ttl), as with the other backends. The connection is dropped so no heartbeat keeps it alive.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#wakers]) w();
    const s = this.#session;
    this.#session = null;
    if (s) await s.abandon();
  }
}
