/**
 * Real etcd 3.4 processes for tests: one node or a 3-member cluster on free loopback ports in a temp dir.
 *
 * ```ts
 * const etcd = await startEtcd();
 * try { use(etcd.endpoint); } finally { await etcd.stop(); }
 * ```
 *
 * `stop()` removes the data directory; processes still alive when the test process ends, normally or of an
 * uncaught error (`process_end.ts`), are killed, so a failing test never leaves etcd behind.
 */
import { onProcessEnd } from "./process_end.ts";

export const ETCD_BIN = "/usr/bin/etcd";

export interface EtcdNode {
  /** etcd member name. */
  readonly name: string;
  /** `127.0.0.1:PORT` (client port). */
  readonly endpoint: string;
  /** `http://127.0.0.1:PORT` (`https://` with TLS). */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** PID of the running process, or null while stopped. */
  readonly pid: number | null;
  /** Graceful stop (SIGTERM), wait for exit. Keeps the data dir, so `start()` brings the member back. */
  shutdown(): Promise<void>;
  /** SIGKILL, wait for exit. Keeps the data dir. */
  kill(): Promise<void>;
  /** SIGSTOP: the process keeps its sockets but answers nothing (a hung server). */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Until the member answers its health check (a linearizable read: it has a leader and has caught up). */
  waitHealthy(): Promise<void>;
  /** Start again after `shutdown()`/`kill()` with the same ports and data; waits until healthy. */
  start(): Promise<void>;
  /** Kill (if running) and start again. */
  restart(): Promise<void>;
}

export interface EtcdServer extends EtcdNode {
  /** Kill the process and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** The same, synchronously, for a process that is about to die (no waiting for the exit). */
  stopNow(): void;
}

export interface EtcdCluster {
  readonly members: EtcdNode[];
  /** Every member's `127.0.0.1:PORT`. */
  readonly endpoints: string[];
  /** Kill every member and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Serve clients over TLS (peers stay plain HTTP on loopback). */
export interface EtcdTlsOptions {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Require client certificates signed by `caFile`. */
  clientCertAuth?: boolean;
  /** Client certificate for the helper's own health checks (needed with `clientCertAuth`). */
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface StartEtcdOptions {
  /** Extra command-line flags for every member. */
  extraArgs?: string[];
  tls?: EtcdTlsOptions;
  /** Wait this long for health, default 20 s. */
  startTimeoutMs?: number;
  /** Where the members' temporary directory is made (default: the system temp dir). */
  parentDir?: string;
}

/** etcd writes about 70 MB per member (a preallocated WAL segment and its database). */
const MEMORY_DIR_MIN_FREE_KB = 1024 * 1024;

/**
 * A memory-backed directory (/dev/shm) with room for a small etcd cluster, else undefined. For tests about
 * the client's timing: there etcd's fsync must not stall behind other tests' disk writes (on a busy disk one
 * fdatasync took seconds and etcd itself could not answer within retry_timeout).
 */
export async function memoryDir(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("df", { args: ["-Pk", "/dev/shm"], stdout: "piped", stderr: "null" })
      .output();
    const fields = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)?.split(/\s+/) ?? [];
    const freeKb = Number(fields[3]);
    return out.success && freeKb >= MEMORY_DIR_MIN_FREE_KB ? "/dev/shm" : undefined;
  } catch {
    return undefined;
  }
}

const live = new Set<Deno.ChildProcess>();
let endHooked = false;

function hookProcessEnd(): void {
  if (endHooked) return;
  endHooked = true;
  onProcessEnd(() => {
    for (const p of live) {
      try {
        Deno.kill(p.pid, "SIGCONT");
        p.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  });
}

/** A free port outside the ephemeral range (see ports.ts). */
import { freePort } from "./ports.ts";
export { freePort };

async function waitHealthy(
  clientUrl: string,
  proc: Deno.ChildProcess,
  timeoutMs: number,
  log: string,
  tls?: EtcdTlsOptions,
) {
  const deadline = Date.now() + timeoutMs;
  const client = tls
    ? Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(tls.caFile)],
      ...(tls.clientCertFile && tls.clientKeyFile
        ? {
          cert: await Deno.readTextFile(tls.clientCertFile),
          key: await Deno.readTextFile(tls.clientKeyFile),
        }
        : {}),
    })
    : undefined;
  try {
    await pollHealth(clientUrl, proc, deadline, timeoutMs, log, client);
  } finally {
    client?.close();
  }
}

async function pollHealth(
  clientUrl: string,
  proc: Deno.ChildProcess,
  deadline: number,
  timeoutMs: number,
  log: string,
  client?: Deno.HttpClient,
) {
  let exited = false;
  proc.status.then(() => exited = true);
  let last = "";
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const r = await fetch(`${clientUrl}/health`, {
        signal: AbortSignal.timeout(1000),
        ...(client ? { client } : {}),
      });
      last = await r.text();
      if (r.ok && JSON.parse(last).health === "true") return;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let tail = "";
  try {
    tail = (await Deno.readTextFile(log)).split("\n").slice(-20).join("\n");
  } catch { /* no log */ }
  throw new Error(
    `etcd at ${clientUrl} not healthy after ${timeoutMs} ms (${exited ? "exited" : last})\n${tail}`,
  );
}

interface MemberSpec {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
}

class Member implements EtcdNode {
  #proc: Deno.ChildProcess | null = null;
  #args: string[];
  #timeoutMs: number;
  readonly #tls?: EtcdTlsOptions;
  constructor(readonly spec: MemberSpec, initialCluster: string, token: string, opts: StartEtcdOptions) {
    this.#timeoutMs = opts.startTimeoutMs ?? 20_000;
    this.#tls = opts.tls;
    const tls = opts.tls;
    this.#args = [
      `--name=${spec.name}`,
      `--data-dir=${spec.dataDir}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-state=new`,
      `--initial-cluster-token=${token}`,
      // Fast elections keep failover tests short; loopback latency is far below these.
      "--heartbeat-interval=50",
      "--election-timeout=500",
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=warn",
      ...(tls
        ? [
          `--cert-file=${tls.certFile}`,
          `--key-file=${tls.keyFile}`,
          `--trusted-ca-file=${tls.caFile}`,
          ...(tls.clientCertAuth ? ["--client-cert-auth"] : []),
        ]
        : []),
      ...(opts.extraArgs ?? []),
    ];
  }
  get name() {
    return this.spec.name;
  }
  get endpoint() {
    return `127.0.0.1:${this.spec.clientPort}`;
  }
  get clientUrl() {
    return `${this.#tls ? "https" : "http"}://127.0.0.1:${this.spec.clientPort}`;
  }
  get peerUrl() {
    return `http://127.0.0.1:${this.spec.peerPort}`;
  }
  get dataDir() {
    return this.spec.dataDir;
  }
  get pid() {
    return this.#proc?.pid ?? null;
  }

  /** Spawn without waiting for health (cluster members must start together). */
  async spawn(): Promise<void> {
    if (this.#proc) throw new Error(`etcd ${this.name} is already running (pid ${this.#proc.pid})`);
    const out = await Deno.open(this.spec.logFile, { create: true, append: true });
    const err = await Deno.open(this.spec.logFile, { append: true });
    let proc: Deno.ChildProcess;
    try {
      proc = new Deno.Command(ETCD_BIN, { args: this.#args, stdin: "null", stdout: "piped", stderr: "piped" })
        .spawn();
    } catch (e) {
      out.close();
      err.close();
      throw e;
    }
    // Copy output to the log file so pipes never fill up and block etcd; pipeTo closes the files at exit.
    proc.stdout.pipeTo(out.writable).catch(() => {});
    proc.stderr.pipeTo(err.writable).catch(() => {});
    this.#proc = proc;
    live.add(proc);
    hookProcessEnd();
    proc.status.finally(() => live.delete(proc));
  }

  waitHealthy(): Promise<void> {
    if (!this.#proc) throw new Error(`etcd ${this.name} is not running`);
    return waitHealthy(this.clientUrl, this.#proc, this.#timeoutMs, this.spec.logFile, this.#tls);
  }

  async start(): Promise<void> {
    await this.spawn();
    await this.waitHealthy();
  }

  async #signalAndWait(sig: Deno.Signal): Promise<void> {
    const p = this.#proc;
    if (!p) return;
    this.#proc = null;
    try {
      Deno.kill(p.pid, "SIGCONT"); // a paused process cannot handle SIGTERM
      p.kill(sig);
    } catch { /* already exited */ }
    const t = setTimeout(() => {
      try {
        p.kill("SIGKILL");
      } catch { /* gone */ }
    }, 10_000);
    try {
      await p.status;
    } finally {
      clearTimeout(t);
    }
  }

  shutdown(): Promise<void> {
    return this.#signalAndWait("SIGTERM");
  }
  kill(): Promise<void> {
    return this.#signalAndWait("SIGKILL");
  }
  pause(): void {
    if (!this.#proc) throw new Error(`etcd ${this.name} is not running`);
    Deno.kill(this.#proc.pid, "SIGSTOP");
  }
  resume(): void {
    if (!this.#proc) throw new Error(`etcd ${this.name} is not running`);
    Deno.kill(this.#proc.pid, "SIGCONT");
  }
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }
}

async function makeMembers(n: number, dir: string, opts: StartEtcdOptions): Promise<Member[]> {
  const specs: MemberSpec[] = [];
  for (let i = 0; i < n; i++) {
    const name = `etcd${i}`;
    const dataDir = `${dir}/${name}`;
    await Deno.mkdir(dataDir, { mode: 0o700 });
    specs.push({
      name,
      clientPort: freePort(),
      peerPort: freePort(),
      dataDir,
      logFile: `${dir}/${name}.log`,
    });
  }
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(",");
  const token = `pgwarden-test-${crypto.randomUUID()}`;
  return specs.map((s) => new Member(s, initialCluster, token, opts));
}

/** Start one etcd member on free loopback ports; resolves once `/health` says healthy. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdServer> {
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-etcd-", dir: opts.parentDir });
  let member: Member | undefined;
  try {
    [member] = await makeMembers(1, dir, opts);
    await member!.start();
  } catch (e) {
    await member?.kill().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  const m = member!;
  let stopped = false;
  return Object.assign(m, {
    async stop() {
      if (stopped) return;
      stopped = true;
      await m.kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    stopNow() {
      if (stopped) return;
      stopped = true;
      try {
        if (m.pid) Deno.kill(m.pid, "SIGKILL");
      } catch { /* gone */ }
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already removed */ }
    },
  });
}

/** Start an n-member (default 3) etcd cluster; resolves once every member is healthy. */
export async function startEtcdCluster(n = 3, opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-etcd-cluster-", dir: opts.parentDir });
  const members = await makeMembers(n, dir, opts);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(members.map((m) => m.kill().catch(() => {})));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (const m of members) await m.spawn();
    await Promise.all(members.map((m) => m.waitHealthy()));
  } catch (e) {
    await stop();
    throw e;
  }
  return { members, endpoints: members.map((m) => m.endpoint), stop };
}
