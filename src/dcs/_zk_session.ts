/**
 * One ZooKeeper session over npm `node-zookeeper-client`, typed and promise-based, with every request bound
 * to an `Attempt` (aborting it abandons the request) and counted.
 *
 * The library has no read timeout: on a hung server it stays "connected" forever. When an attempt times out
 * on a connection that still looks healthy we drop the socket (a private field of the library) so it
 * reconnects — to another server of the ensemble if there is one — and resumes the same session, like kazoo's
 * read timeout in Patroni.
 */
import zookeeper from "node-zookeeper-client";
import { Buffer } from "node:buffer";
import { type Attempt, AttemptTimeoutError } from "./retry.ts";

export interface ZkStat {
  version: number;
  /** 8 bytes; all zero for persistent nodes. */
  ephemeralOwner: Uint8Array;
}

/** ZooKeeper result codes we act on. */
export const ZK = {
  CONNECTION_LOSS: -4,
  OPERATION_TIMEOUT: -7,
  NO_NODE: -101,
  NO_AUTH: -102,
  BAD_VERSION: -103,
  NO_CHILDREN_FOR_EPHEMERALS: -108,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
  INVALID_ACL: -114,
  AUTH_FAILED: -115,
} as const;

interface ZkException extends Error {
  getCode(): number;
}
interface ZkEvent {
  getType(): number;
  getPath(): string;
}
type Watcher = (event: ZkEvent) => void;
type Cb<T> = (error: ZkException | null, result: T) => void;
interface ZkTransaction {
  ops: { version?: number }[];
  create(path: string, data: Buffer, mode: number): ZkTransaction;
  remove(path: string, version: number): ZkTransaction;
  commit(cb: (error: ZkException | null, results: unknown) => void): void;
}
interface NpmZkClient {
  connect(): void;
  close(): void;
  getState(): { name: string; code: number };
  getSessionId(): Buffer;
  on(event: string, fn: (...args: unknown[]) => void): void;
  once(event: string, fn: (...args: unknown[]) => void): void;
  removeListener(event: string, fn: (...args: unknown[]) => void): void;
  create(path: string, data: Buffer, mode: number, cb: Cb<string>): void;
  remove(path: string, version: number, cb: (error: ZkException | null) => void): void;
  setData(path: string, data: Buffer, version: number, cb: Cb<ZkStat>): void;
  getData(path: string, cb: (error: ZkException | null, data: Buffer | null, stat: ZkStat) => void): void;
  getData(
    path: string,
    w: Watcher,
    cb: (error: ZkException | null, data: Buffer | null, stat: ZkStat) => void,
  ): void;
  exists(path: string, cb: Cb<ZkStat | null>): void;
  exists(path: string, w: Watcher, cb: Cb<ZkStat | null>): void;
  getChildren(path: string, cb: Cb<string[]>): void;
  mkdirp(path: string, cb: Cb<string>): void;
  transaction(): ZkTransaction;
  connectionManager?: {
    socket?: { destroy(): void };
    setState(state: number): void;
    connect(): void;
    onSocketConnected(): void;
  };
}
interface NpmZk {
  createClient(hosts: string, o: { sessionTimeout: number; spinDelay: number; retries: number }): NpmZkClient;
  CreateMode: { PERSISTENT: number; EPHEMERAL: number };
}
const zk = zookeeper as unknown as NpmZk;

/** A ZooKeeper error answer (or our own connection-state error) with its result code. */
export class ZkError extends Error {
  override name = "ZkError";
  constructor(readonly code: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function zkCode(e: unknown): number | undefined {
  if (e instanceof ZkError) return e.code;
  const x = e as { getCode?: () => number } | null;
  return x && typeof x.getCode === "function" ? x.getCode() : undefined;
}

export interface ZkData {
  data: string;
  version: number;
  /** Hex session id of an ephemeral node's owner; undefined for persistent nodes. */
  owner?: string;
}

function ownerHex(stat: ZkStat): string | undefined {
  const hex = Buffer.from(stat.ephemeralOwner).toString("hex");
  return /^0+$/.test(hex) ? undefined : hex;
}

export class ZkSession {
  readonly #client: NpmZkClient;
  readonly #count: () => void;
  #expired = false;
  #closed = false;
  /** Callers of `waitConnected`: one pair of library listeners serves them all. */
  readonly #waiters = new Set<(err?: Error) => void>();

  constructor(hosts: string, sessionTimeoutMs: number, countRequest: () => void) {
    this.#count = countRequest;
    this.#client = zk.createClient(hosts, { sessionTimeout: sessionTimeoutMs, spinDelay: 200, retries: 0 });
    const fail = (why: string) => () => {
      this.#expired = true;
      for (const w of [...this.#waiters]) w(new ZkError(ZK.SESSION_EXPIRED, why));
    };
    this.#client.on("expired", fail("ZooKeeper session expired"));
    this.#client.on("authenticationFailed", fail("ZooKeeper authentication failed"));
    this.#client.on("connected", () => {
      for (const w of [...this.#waiters]) w();
    });
    this.#client.connect();
  }

  get connected(): boolean {
    const s = this.#client.getState().name;
    return s === "SYNC_CONNECTED" && !this.#closed;
  }

  /** Expired or closed: this session can never be used again. */
  get dead(): boolean {
    return this.#expired || this.#closed;
  }

  /** Hex session id, once the first connection succeeded. */
  get id(): string | null {
    const hex = this.#client.getSessionId().toString("hex");
    return /^0+$/.test(hex) ? null : hex;
  }

  /** Wait until connected (at most `ms`); throws `ZkError(CONNECTION_LOSS)` otherwise. */
  waitConnected(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.dead) {
      return Promise.reject(new ZkError(ZK.SESSION_EXPIRED, "ZooKeeper session expired or closed"));
    }
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      };
      const waiter = (err?: Error) => done(err);
      const onAbort = () => done(new ZkError(ZK.CONNECTION_LOSS, "not connected to ZooKeeper (aborted)"));
      const timer = setTimeout(
        () => done(new ZkError(ZK.CONNECTION_LOSS, `not connected to ZooKeeper within ${Math.round(ms)} ms`)),
        Math.max(0, ms),
      );
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Issue one request bound to `a`; refuses to queue one while disconnected (it would be sent much later). */
  #call<T>(a: Attempt, issue: (settle: (e: unknown, v?: T) => void) => void): Promise<T> {
    if (a.signal.aborted) return Promise.reject(a.signal.reason);
    if (!this.connected) {
      return Promise.reject(
        new ZkError(this.dead ? ZK.SESSION_EXPIRED : ZK.CONNECTION_LOSS, "not connected"),
      );
    }
    this.#count();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        // A request that outlived its attempt on a "connected" socket: assume the server hangs.
        if (a.signal.reason instanceof AttemptTimeoutError && this.connected) this.#dropConnection();
        reject(a.signal.reason);
      };
      a.signal.addEventListener("abort", onAbort, { once: true });
      issue((e, v) => {
        if (settled) return;
        settled = true;
        a.signal.removeEventListener("abort", onAbort);
        if (e) reject(e);
        else resolve(v as T);
      });
    });
  }

  #dropConnection(): void {
    try {
      this.#client.connectionManager?.socket?.destroy();
    } catch { /* already gone */ }
  }

  /** Read a node (null when absent), optionally leaving a data watch. */
  getData(path: string, a: Attempt, watcher?: Watcher): Promise<ZkData | null> {
    return this.#call(a, (settle) => {
      const cb = (e: ZkException | null, data: Buffer | null, stat: ZkStat) => {
        if (e && zkCode(e) === ZK.NO_NODE) return settle(null, null);
        if (e) return settle(e);
        settle(null, {
          data: data ? data.toString("utf8") : "",
          version: stat.version,
          owner: ownerHex(stat),
        });
      };
      if (watcher) this.#client.getData(path, watcher, cb);
      else this.#client.getData(path, cb);
    });
  }

  /** Whether a node exists, leaving a watch for its creation/change/deletion. */
  exists(path: string, a: Attempt, watcher: Watcher): Promise<boolean> {
    return this.#call(
      a,
      (settle) => this.#client.exists(path, watcher, (e, stat) => settle(e, stat !== null)),
    );
  }

  /** Children of a node ([] when absent). */
  children(path: string, a: Attempt): Promise<string[]> {
    return this.#call(a, (settle) =>
      this.#client.getChildren(path, (e, list) => {
        if (e && zkCode(e) === ZK.NO_NODE) return settle(null, []);
        settle(e, list);
      }));
  }

  /** Create a node; `ephemeral` binds it to this session. Errors keep ZooKeeper's code (NODE_EXISTS, NO_NODE). */
  create(path: string, data: string, ephemeral: boolean, a: Attempt): Promise<void> {
    const mode = ephemeral ? zk.CreateMode.EPHEMERAL : zk.CreateMode.PERSISTENT;
    return this.#call(
      a,
      (settle) => this.#client.create(path, Buffer.from(data, "utf8"), mode, (e) => settle(e)),
    );
  }

  /** Create persistent parents (`mkdir -p`). */
  mkdirp(path: string, a: Attempt): Promise<void> {
    return this.#call(a, (settle) => this.#client.mkdirp(path, (e) => settle(e)));
  }

  /** Set data (version -1 = any); returns the new version. */
  setData(path: string, data: string, version: number, a: Attempt): Promise<number> {
    return this.#call(
      a,
      (settle) =>
        this.#client.setData(path, Buffer.from(data, "utf8"), version, (e, stat) => settle(e, stat?.version)),
    );
  }

  remove(path: string, version: number, a: Attempt): Promise<void> {
    return this.#call(a, (settle) => this.#client.remove(path, version, (e) => settle(e)));
  }

  /**
   * Atomically delete `path` (if still at `version`) and re-create it as our ephemeral node with `data`:
   * moves a node to this session without a moment in which it is absent.
   */
  replaceWithEphemeral(path: string, version: number, data: string, a: Attempt): Promise<void> {
    return this.#call(a, (settle) => {
      const tx = this.#client.transaction().remove(path, version);
      // The library turns version 0 into -1 ("any") inside transactions; put the real one back.
      const op = tx.ops[tx.ops.length - 1];
      if (op) op.version = version;
      tx.create(path, Buffer.from(data, "utf8"), zk.CreateMode.EPHEMERAL).commit((e) => settle(e));
    });
  }

  /**
   * Stop talking to ZooKeeper without ending the session, as a crashed process would: no more heartbeats, so
   * the server expires the session (and its ephemeral nodes) after its timeout. Uses library internals: the
   * CLOSING state makes a closed socket final, and reconnects that were already scheduled are cut off.
   */
  abandon(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const cm = this.#client.connectionManager;
    if (cm) {
      cm.connect = () => {};
      cm.onSocketConnected = function (this: { socket?: { destroy(): void } }) {
        this.socket?.destroy();
      };
      cm.setState(-1); // ConnectionManager.STATES.CLOSING
    }
    this.#dropConnection();
    return Promise.resolve();
  }

  /**
   * End the session: ZooKeeper deletes its ephemeral nodes before answering. Waits at most `ms` (then the
   * socket is dropped and the session left to expire on the server).
   */
  close(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const wasConnected = this.#client.getState().name === "SYNC_CONNECTED";
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#client.removeListener("disconnected", done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#dropConnection();
        done();
      }, Math.max(0, ms));
      this.#client.on("disconnected", done);
      this.#client.close();
      if (!wasConnected) {
        // Not connected: nothing to tell the server; stop the reconnect loop now.
        this.#dropConnection();
        done();
      }
    });
  }
}
