/**
 * A real ZooKeeper 3.8 (Debian's jars, run with java) for tests: standalone, on a free loopback port, data in a
 * temp dir, admin server off, session timeouts allowed down to `minSessionTimeoutMs`.
 *
 * ```ts
 * const zk = await startZooKeeper();
 * try { use(zk.endpoint); } finally { await zk.stop(); }
 * ```
 *
 * A process still alive when the test process ends, normally or of an uncaught error, is killed
 * (`process_end.ts`).
 */
import { onProcessEnd } from "./process_end.ts";
import { freePort } from "./etcd.ts";

/** Where Debian's `zookeeper` package puts the server jar; its manifest Class-Path names the dependencies. */
const JAR_CANDIDATES = ["/usr/share/java/zookeeper.jar", "/usr/share/zookeeper/zookeeper.jar"];
/** An SLF4J binding keeps ZooKeeper from printing "no binding" warnings; its log goes to our log file. */
const SLF4J_CANDIDATES = ["/usr/share/java/slf4j-simple.jar", "/usr/share/java/slf4j-nop.jar"];
const JAVA = "/usr/bin/java";

export interface StartZooKeeperOptions {
  /** Lowest session timeout the server grants. @default 1000 */
  minSessionTimeoutMs?: number;
  /** Highest session timeout the server grants. @default 60000 */
  maxSessionTimeoutMs?: number;
  /** ZooKeeper's tick (session expiry granularity). @default 200 */
  tickTimeMs?: number;
  /** Wait this long for `ruok` → `imok`. @default 30000 */
  startTimeoutMs?: number;
}

export interface ZooKeeperServer {
  /** `127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly port: number;
  readonly dataDir: string;
  readonly pid: number | null;
  /** SIGSTOP: the process keeps its sockets but answers nothing. */
  pause(): void;
  resume(): void;
  /** Kill the process and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
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
      } catch { /* gone */ }
    }
  });
}

function firstExisting(paths: string[]): string | null {
  for (const p of paths) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* next */ }
  }
  return null;
}

/** Send a four-letter command and read the answer (ZooKeeper closes the connection after it). */
export async function fourLetter(port: number, cmd: string, timeoutMs = 1000): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    await conn.write(new TextEncoder().encode(cmd));
    let out = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += new TextDecoder().decode(buf.subarray(0, n));
    }
    return out;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer or the server */ }
  }
}

export async function startZooKeeper(opts: StartZooKeeperOptions = {}): Promise<ZooKeeperServer> {
  const jar = firstExisting(JAR_CANDIDATES);
  if (!jar) {
    throw new Error(
      `ZooKeeper jar not found (looked for ${JAR_CANDIDATES.join(", ")}); apt-get install zookeeper`,
    );
  }
  const slf4j = firstExisting(SLF4J_CANDIDATES);
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-zk-" });
  const port = freePort();
  const tick = opts.tickTimeMs ?? 200;
  const cfg = [
    `tickTime=${tick}`,
    `dataDir=${dir}/data`,
    `clientPort=${port}`,
    "clientPortAddress=127.0.0.1",
    "admin.enableServer=false",
    `minSessionTimeout=${opts.minSessionTimeoutMs ?? 1000}`,
    `maxSessionTimeout=${opts.maxSessionTimeoutMs ?? 60000}`,
    "4lw.commands.whitelist=ruok,srvr,stat,mntr,cons",
    // Tests create and drop many sessions quickly; keep the defaults generous.
    "maxClientCnxns=0",
    "",
  ].join("\n");
  await Deno.mkdir(`${dir}/data`);
  await Deno.writeTextFile(`${dir}/zoo.cfg`, cfg);
  const log = await Deno.open(`${dir}/zookeeper.log`, { create: true, write: true });
  const logErr = await Deno.open(`${dir}/zookeeper.log`, { write: true, append: true });
  let proc: Deno.ChildProcess;
  try {
    proc = new Deno.Command(JAVA, {
      args: [
        "-Xms64m",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-Dzookeeper.jmx.log4j.disable=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp",
        [jar, ...(slf4j ? [slf4j] : [])].join(":"),
        "org.apache.zookeeper.server.ZooKeeperServerMain",
        `${dir}/zoo.cfg`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    log.close();
    logErr.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  proc.stdout.pipeTo(log.writable).catch(() => {});
  proc.stderr.pipeTo(logErr.writable).catch(() => {});
  live.add(proc);
  hookProcessEnd();
  let exited = false;
  proc.status.finally(() => {
    exited = true;
    live.delete(proc);
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      Deno.kill(proc.pid, "SIGCONT");
      proc.kill("SIGKILL");
    } catch { /* already gone */ }
    await proc.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  let last = "";
  for (;;) {
    try {
      last = await fourLetter(port, "ruok");
      if (last === "imok") break;
    } catch (e) {
      last = String(e);
    }
    if (exited || Date.now() > deadline) {
      const tail = (await Deno.readTextFile(`${dir}/zookeeper.log`).catch(() => "")).split("\n").slice(-20)
        .join("\n");
      await stop();
      throw new Error(`ZooKeeper on port ${port} not ready (${exited ? "exited" : last})\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    endpoint: `127.0.0.1:${port}`,
    port,
    dataDir: `${dir}/data`,
    get pid() {
      return stopped ? null : proc.pid;
    },
    pause: () => Deno.kill(proc.pid, "SIGSTOP"),
    resume: () => Deno.kill(proc.pid, "SIGCONT"),
    stop,
  };
}

/** Direct node access for tests (bypassing the DCS adapter): read, write and delete subtrees by path. */
export interface RawZk {
  read(path: string): Promise<string | null>;
  write(path: string, value: string): Promise<void>;
  deleteTree(path: string): Promise<void>;
  close(): Promise<void>;
}

export async function rawZooKeeper(endpoint: string): Promise<RawZk> {
  const { ZkSession, zkCode, ZK } = await import("../../src/dcs/_zk_session.ts");
  const s = new ZkSession(endpoint, 30_000, () => {});
  const attempt = () => ({ n: 1, timeoutMs: 5000, signal: AbortSignal.timeout(5000) });
  await s.waitConnected(10_000);
  return {
    async read(path) {
      return (await s.getData(path, attempt()))?.data ?? null;
    },
    async write(path, value) {
      try {
        await s.setData(path, value, -1, attempt());
      } catch (e) {
        if (zkCode(e) !== ZK.NO_NODE) throw e;
        await s.mkdirp(path.slice(0, path.lastIndexOf("/")), attempt());
        await s.create(path, value, false, attempt());
      }
    },
    async deleteTree(path) {
      const order: string[] = [];
      let level = [path];
      while (level.length > 0) {
        order.push(...level);
        level = (await Promise.all(level.map(async (p) =>
          (await s.children(p, attempt())).map((c) =>
            `${p}/${c}`
          )
        )))
          .flat();
      }
      for (const p of order.reverse()) {
        try {
          await s.remove(p, -1, attempt());
        } catch (e) {
          if (zkCode(e) !== ZK.NO_NODE) throw e;
        }
      }
    },
    close: () => s.close(2000),
  };
}
