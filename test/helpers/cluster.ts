/**
 * A real pgwarden cluster for integration tests: real etcd, N agents started through bin/pgwarden (so the
 * launcher and the computed permissions are exercised) from Patroni-format YAML configs, real PostgreSQL 15.
 * Everything lives on free loopback ports in a temp dir and is torn down by `stop()`.
 */
import { pgClient } from "./pg_client.ts";
import { tolerateWritesAfterServerClose } from "../../src/postgres/write_after_close.ts";
import { stringify } from "yaml";
import { startEtcd } from "./etcd.ts";
import { onProcessEnd } from "./process_end.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A free port outside the ephemeral range (see ports.ts). */
import { freePort } from "./ports.ts";
export { freePort };

// postgres.js on Deno: a write racing the server closing the connection must not end the process.
tolerateWritesAfterServerClose();

export interface NodeOptions {
  tags?: Record<string, unknown>;
  /** Extra snake_case sections deep-merged into the node's YAML (objects merge, other values replace). */
  extra?: Record<string, unknown>;
  /** Extra snake_case keys merged into the node's `postgresql` section. */
  postgresqlExtra?: Record<string, unknown>;
  /** Address PostgreSQL and the REST API bind to and advertise (default 127.0.0.1). */
  host?: string;
  /** Command prefix for the agent, e.g. `["ip", "netns", "exec", "ns1"]`. */
  wrap?: string[];
  /** Extra environment for the agent process. */
  env?: Record<string, string>;
}

export interface ClusterOptions {
  nodes?: number;
  ttl?: number;
  loopWait?: number;
  retryTimeout?: number;
  /** Extra dynamic (bootstrap.dcs) settings, snake_case. */
  dcs?: Record<string, unknown>;
  node?: (i: number) => NodeOptions;
  /** Start only the first node, wait until it leads, then the others (deterministic first leader). */
  sequential?: boolean;
  scope?: string;
  /** etcd endpoints node `i` is configured with (default: the test etcd's loopback endpoint). */
  etcdHosts?: (etcd: Awaited<ReturnType<typeof startEtcd>>, i: number) => string[];
  /** Extra pg_hba lines (e.g. for addresses other than 127.0.0.1). */
  hbaExtra?: string[];
  /** The DCS section(s) of every node's YAML instead of `etcd3` (e.g. `{ consul: { host } }`). */
  dcsSection?: Record<string, unknown>;
  /** An etcd shared with other clusters (Citus groups share one scope): not stopped by `stop()`. */
  etcd?: Awaited<ReturnType<typeof startEtcd>>;
  /** Member names are `<namePrefix><i+1>` (default `node`). */
  namePrefix?: string;
  /** Extra snake_case keys merged into every node's `bootstrap` section (e.g. `post_bootstrap`). */
  bootstrapExtra?: Record<string, unknown>;
}

export class TestNode {
  proc: Deno.ChildProcess | null = null;
  readonly logs: string[] = [];
  constructor(
    readonly name: string,
    readonly configPath: string,
    readonly dataDir: string,
    readonly pgPort: number,
    readonly apiPort: number,
    readonly host = "127.0.0.1",
    readonly launch: { wrap?: string[]; env?: Record<string, string> } = {},
  ) {}

  start(extraArgs: string[] = []): void {
    const wrap = this.launch.wrap ?? [];
    const cmd = new Deno.Command(wrap[0] ?? `${ROOT}bin/pgwarden`, {
      args: [
        ...wrap.slice(1),
        ...(wrap.length ? [`${ROOT}bin/pgwarden`] : []),
        this.configPath,
        ...extraArgs,
      ],
      cwd: ROOT,
      ...(this.launch.env ? { env: this.launch.env } : {}),
      stdout: "piped",
      stderr: "piped",
    });
    this.proc = cmd.spawn();
    for (const s of [this.proc.stdout, this.proc.stderr]) this.collect(s);
  }

  /** Keep the process output lines (and echo them with PGWARDEN_TEST_LOGS). */
  protected async collect(s: ReadableStream<Uint8Array>) {
    let buf = "";
    try {
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        const lines = buf.split("\n");
        buf = lines.pop()!;
        this.logs.push(...lines);
        if (Deno.env.get("PGWARDEN_TEST_LOGS")) {
          for (const l of lines) console.error(`[${this.name}] ${l}`);
        }
      }
    } catch {
      // process gone
    }
  }

  /** Signal the agent process. */
  signal(sig: Deno.Signal): void {
    try {
      this.proc?.kill(sig);
    } catch {
      // already exited
    }
  }

  async killAgent(): Promise<void> {
    this.signal("SIGKILL");
    await this.proc?.status;
    this.proc = null;
  }

  async stopAgent(): Promise<void> {
    if (!this.proc) return;
    this.signal("SIGTERM");
    const t = setTimeout(() => this.signal("SIGKILL"), 30_000);
    await this.proc.status;
    clearTimeout(t);
    this.proc = null;
  }

  postmasterPid(): number | null {
    try {
      const pid = Number(Deno.readTextFileSync(`${this.dataDir}/postmaster.pid`).split("\n")[0]);
      Deno.statSync(`/proc/${pid}`);
      return pid;
    } catch {
      return null;
    }
  }

  killPostmaster(): void {
    const pid = this.postmasterPid();
    if (pid) Deno.kill(pid, "SIGKILL");
  }

  async api(path: string, init?: RequestInit): Promise<{ status: number; body: unknown; text: string }> {
    const r = await fetch(`http://${this.host}:${this.apiPort}${path}`, {
      ...init,
      signal: AbortSignal.timeout(5000),
    });
    const text = await r.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // plain text
    }
    return { status: r.status, body, text };
  }

  /** Role reported by /patroni, or null when the API does not answer. */
  async role(): Promise<string | null> {
    try {
      const r = await this.api("/patroni");
      return (r.body as { role?: string }).role ?? null;
    } catch {
      return null;
    }
  }

  /** A client over TCP to `host`, or over the Unix socket in /tmp with `socket` (works across netns). */
  sql(opts: { timeoutS?: number; socket?: boolean; database?: string } = {}) {
    return pgClient({
      host: opts.socket ? "/tmp" : this.host,
      port: this.pgPort,
      ...(opts.database ? { database: opts.database } : {}),
      connectTimeoutS: opts.timeoutS ?? 3,
      idleTimeoutS: 1,
    });
  }
}

/** Clusters not stopped yet: killed if the test process ends first (an uncaught error). */
const liveClusters = new Set<TestCluster>();
onProcessEnd(() => {
  for (const c of liveClusters) c.killNow();
});

export class TestCluster {
  constructor(
    readonly dir: string,
    readonly etcd: Awaited<ReturnType<typeof startEtcd>>,
    readonly nodes: TestNode[],
    readonly opts: Required<Pick<ClusterOptions, "ttl" | "loopWait" | "retryTimeout">> & {
      scope: string;
      /** The etcd belongs to this cluster (stopped with it); false when shared. */
      ownsEtcd?: boolean;
    },
  ) {
    liveClusters.add(this);
  }

  /** SIGKILL every agent, postmaster and our etcd, remove the directories, synchronously (for the hooks). */
  killNow(): void {
    for (const n of this.nodes) {
      for (const pid of [n.proc?.pid, n.postmasterPid()]) {
        try {
          if (pid) Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch { /* already removed */ }
    if (this.opts.ownsEtcd !== false) this.etcd.stopNow();
  }

  node(name: string): TestNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** Poll until `fn` returns a truthy value or the timeout expires (then throws with `what`). */
  async waitFor<T>(
    what: string,
    fn: () => Promise<T | null | undefined | false>,
    timeoutMs = 60_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const v = await fn();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(
      `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}\n${this.tail()}`,
    );
  }

  tail(lines = 25): string {
    return this.nodes.map((n) => `--- ${n.name}\n${n.logs.slice(-lines).join("\n")}`).join("\n");
  }

  /** The member whose /patroni says primary and which the DCS names leader. */
  async leader(): Promise<TestNode | null> {
    for (const n of this.nodes) {
      if (!n.proc) continue;
      try {
        const r = await n.api("/cluster");
        const m = (r.body as { members?: { name: string; role: string; state: string }[] }).members ?? [];
        const l = m.find((x) => x.role === "leader" && x.state === "running");
        if (l) {
          const ln = this.node(l.name);
          if ((await ln.role()) === "primary") return ln;
        }
      } catch {
        // try next
      }
    }
    return null;
  }

  async waitHealthy(count = this.nodes.filter((n) => n.proc).length, timeoutMs = 90_000): Promise<TestNode> {
    return await this.waitFor(`1 primary + ${count - 1} streaming replicas`, async () => {
      const l = await this.leader();
      if (!l) return null;
      const r = await l.api("/cluster");
      const m = (r.body as { members: { name: string; role: string; state: string }[] }).members;
      const streaming = m.filter((x) => x.role !== "leader" && x.state === "streaming");
      return streaming.length === count - 1 ? l : null;
    }, timeoutMs);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stopAgent().catch(() => {})));
    for (const n of this.nodes) {
      // Belt and braces: no postmaster may outlive the test.
      const pid = n.postmasterPid();
      if (pid) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }
    if (this.opts.ownsEtcd !== false) await this.etcd.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    liveClusters.delete(this);
  }
}

/** Deep-merge plain objects from `extra` into `into` (arrays and scalars replace), so that e.g.
 * `extra: { restapi: { authentication } }` keeps the generated `restapi.listen`. */
function mergeInto(into: Record<string, unknown>, extra: Record<string, unknown>): void {
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  for (const [k, v] of Object.entries(extra)) {
    const cur = into[k];
    if (isObj(cur) && isObj(v)) mergeInto(cur, v);
    else into[k] = v;
  }
}

export async function startCluster(o: ClusterOptions = {}): Promise<TestCluster> {
  const n = o.nodes ?? 3;
  const ttl = o.ttl ?? 8;
  const loopWait = o.loopWait ?? 1;
  const retryTimeout = o.retryTimeout ?? 2;
  const scope = o.scope ?? `t${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-cluster-" });
  await Deno.chmod(dir, 0o755);
  const etcd = o.etcd ?? await startEtcd();
  const nodes: TestNode[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${o.namePrefix ?? "node"}${i + 1}`;
    const pgPort = freePort();
    const apiPort = freePort();
    const dataDir = `${dir}/${name}`;
    const no = o.node?.(i) ?? {};
    const host = no.host ?? "127.0.0.1";
    const cfg: Record<string, unknown> = {
      scope,
      name,
      ...(o.dcsSection ?? { etcd3: { hosts: o.etcdHosts?.(etcd, i) ?? [etcd.endpoint] } }),
      restapi: { listen: `${host}:${apiPort}`, connect_address: `${host}:${apiPort}` },
      bootstrap: {
        dcs: {
          ttl,
          loop_wait: loopWait,
          retry_timeout: retryTimeout,
          maximum_lag_on_failover: 1048576,
          postgresql: { use_pg_rewind: true, parameters: { wal_log_hints: "on", max_connections: 50 } },
          ...o.dcs,
        },
        initdb: [{ encoding: "UTF8" }, "data-checksums"],
        ...o.bootstrapExtra,
      },
      postgresql: {
        listen: `${host}:${pgPort}`,
        connect_address: `${host}:${pgPort}`,
        data_dir: dataDir,
        bin_dir: "/usr/lib/postgresql/15/bin",
        use_pg_rewind: true,
        pg_ctl_timeout: 30,
        authentication: {
          superuser: { username: "postgres", password: "postgres" },
          replication: { username: "replicator", password: "rep-pass" },
        },
        pg_hba: [
          "local all all trust",
          "host all all 127.0.0.1/32 md5",
          "host replication replicator 127.0.0.1/32 md5",
          ...(o.hbaExtra ?? []),
        ],
        parameters: { shared_buffers: "32MB", fsync: "off" },
        ...no.postgresqlExtra,
      },
      ...(no.tags ? { tags: no.tags } : {}),
    };
    mergeInto(cfg, no.extra ?? {});
    const configPath = `${dir}/${name}.yml`;
    await Deno.writeTextFile(configPath, stringify(cfg));
    nodes.push(
      new TestNode(name, configPath, dataDir, pgPort, apiPort, host, {
        ...(no.wrap ? { wrap: no.wrap } : {}),
        ...(no.env ? { env: no.env } : {}),
      }),
    );
  }
  const cluster = new TestCluster(dir, etcd, nodes, {
    ttl,
    loopWait,
    retryTimeout,
    scope,
    ownsEtcd: !o.etcd,
  });
  try {
    if (o.sequential) {
      nodes[0]!.start();
      await cluster.waitFor("first node to lead", async () => (await nodes[0]!.role()) === "primary", 60_000);
      for (const x of nodes.slice(1)) x.start();
    } else for (const x of nodes) x.start();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
