/**
 * A Patroni cluster shaped like the pgwarden test cluster (test/helpers/cluster.ts), for side-by-side
 * benchmarks: Debian's patroni run as the postgres OS user, same etcd, same PostgreSQL settings, same
 * ttl/loop_wait/retry_timeout. Nodes are TestNodes whose agent is `patroni <yml>`.
 */
import { stringify } from "yaml";
import { freePort, TestCluster, TestNode } from "../helpers/cluster.ts";
import { startEtcd } from "../helpers/etcd.ts";

export const PATRONI_BIN = "/usr/bin/patroni";

function postgresIds(): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("no postgres OS user");
  const f = line.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** `patroni <yml>` as the postgres user; /patroni's `master` role reads as `primary`. */
export class PatroniNode extends TestNode {
  constructor(
    name: string,
    configPath: string,
    dataDir: string,
    pgPort: number,
    apiPort: number,
    readonly dir: string,
  ) {
    super(name, configPath, dataDir, pgPort, apiPort);
  }

  override start(): void {
    const { uid, gid } = postgresIds();
    this.proc = new Deno.Command(PATRONI_BIN, {
      args: [this.configPath],
      cwd: this.dir,
      uid,
      gid,
      env: { HOME: this.dir },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    for (const s of [this.proc.stdout, this.proc.stderr]) this.collect(s);
  }

  override async role(): Promise<string | null> {
    const r = await super.role();
    return r === "master" ? "primary" : r;
  }
}

export interface PatroniClusterOptions {
  ttl: number;
  loopWait: number;
  retryTimeout: number;
  /** DCS section instead of etcd3 (e.g. `{ consul: { host } }`). */
  dcsSection?: Record<string, unknown>;
}

export async function startPatroniCluster(o: PatroniClusterOptions): Promise<TestCluster> {
  const { uid, gid } = postgresIds();
  const scope = `p${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-patroni-" });
  await Deno.chown(dir, uid, gid);
  const etcd = await startEtcd();
  const nodes: TestNode[] = [];
  for (let i = 0; i < 3; i++) {
    const name = `node${i + 1}`;
    const pgPort = freePort();
    const apiPort = freePort();
    const dataDir = `${dir}/${name}`;
    const cfg = {
      scope,
      name,
      restapi: { listen: `127.0.0.1:${apiPort}`, connect_address: `127.0.0.1:${apiPort}` },
      ...(o.dcsSection ?? { etcd3: { hosts: [etcd.endpoint] } }),
      log: { level: "INFO" },
      bootstrap: {
        dcs: {
          ttl: o.ttl,
          loop_wait: o.loopWait,
          retry_timeout: o.retryTimeout,
          maximum_lag_on_failover: 1048576,
          postgresql: { use_pg_rewind: true, parameters: { wal_log_hints: "on", max_connections: 50 } },
        },
        initdb: [{ encoding: "UTF8" }, "data-checksums"],
      },
      postgresql: {
        listen: `127.0.0.1:${pgPort}`,
        connect_address: `127.0.0.1:${pgPort}`,
        data_dir: dataDir,
        bin_dir: "/usr/lib/postgresql/15/bin",
        pgpass: `${dir}/${name}.pgpass`,
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
        ],
        parameters: { shared_buffers: "32MB", fsync: "off", unix_socket_directories: "/tmp" },
      },
    };
    const configPath = `${dir}/${name}.yml`;
    await Deno.writeTextFile(configPath, stringify(cfg));
    await Deno.chown(configPath, uid, gid);
    nodes.push(new PatroniNode(name, configPath, dataDir, pgPort, apiPort, dir));
  }
  const cluster = new TestCluster(dir, etcd, nodes, {
    ttl: o.ttl,
    loopWait: o.loopWait,
    retryTimeout: o.retryTimeout,
    scope,
  });
  for (const n of nodes) n.start();
  return cluster;
}
