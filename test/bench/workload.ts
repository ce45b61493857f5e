/**
 * Measuring instruments shared by the HA benchmarks, the same for pgwarden and Patroni clusters:
 * a write loop whose longest gap between acknowledged commits is the write unavailability, a health check
 * (one primary, every replica streaming in pg_stat_replication), and /proc/<pid> readings.
 */
import type { TestCluster, TestNode } from "../helpers/cluster.ts";
export { cpuSeconds } from "../helpers/proc.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Sql = ReturnType<TestNode["sql"]>;

/**
 * Commits an `INSERT` every ~5 ms through whichever node accepts it: each round tries every node at once, each
 * over its own kept connection (re-opened only after a connection failure), and records the time of each
 * acknowledged commit. Trying all nodes in parallel keeps the client's own detection delay to one round, the
 * same for both systems, so the failover figures measure the agents rather than the client.
 */
export class WriteLoop {
  readonly commits: number[] = [];
  #stop = false;
  #done: Promise<void>;

  constructor(cluster: TestCluster) {
    this.#done = this.#run(cluster);
  }

  async #run(cluster: TestCluster): Promise<void> {
    const conns = new Map<TestNode, Sql>();
    const attempt = async (n: TestNode): Promise<number | null> => {
      let sql = conns.get(n);
      if (!sql) conns.set(n, sql = n.sql({ timeoutS: 1 }));
      let settled = false;
      const insert = sql`INSERT INTO bench_writes DEFAULT VALUES`.then(() => true, (e) => {
        // A read-only replica answers with an error on a healthy connection; anything else drops it.
        if ((e as { code?: string }).code !== "25006" && conns.get(n) === sql) {
          conns.delete(n);
          sql.end({ timeout: 0 }).catch(() => {});
        }
        return false;
      }).finally(() => (settled = true));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ok = await Promise.race([
        insert,
        new Promise<false>((r) => timer = setTimeout(() => r(false), 1000)),
      ]);
      clearTimeout(timer);
      if (!settled && conns.get(n) === sql) {
        // No answer within a second: abandon the connection (a late answer is ignored).
        conns.delete(n);
        sql.end({ timeout: 0 }).catch(() => {});
      }
      return ok ? performance.now() : null;
    };
    while (!this.#stop) {
      const done = await Promise.all(cluster.nodes.map(attempt));
      // A round starts after the previous one ended: sorting the round keeps the whole list in order (sorting
      // the whole list each round cost the loop more time with every minute of the run).
      this.commits.push(...done.filter((t): t is number => t !== null).sort((x, y) => x - y));
      await sleep(5);
    }
    for (const sql of conns.values()) await sql.end({ timeout: 0 }).catch(() => {});
  }

  /** Longest gap (ms) between consecutive commits after `since` (performance.now()). */
  gapAfter(since: number): number {
    let gap = 0;
    let prev: number | null = null;
    for (const t of this.commits) {
      if (prev !== null && t >= since) gap = Math.max(gap, t - prev);
      prev = t;
    }
    return gap;
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

export async function createBenchTable(primary: TestNode): Promise<void> {
  const sql = primary.sql();
  try {
    await sql`CREATE TABLE IF NOT EXISTS bench_writes(id bigserial PRIMARY KEY, at timestamptz DEFAULT now())`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** The primary when exactly one node says so and all others stream from it, else null. */
export async function healthyPrimary(cluster: TestCluster): Promise<TestNode | null> {
  const live = cluster.nodes.filter((n) => n.proc);
  const roles = await Promise.all(live.map((n) => n.role().catch(() => null)));
  const primaries = live.filter((_, i) => roles[i] === "primary");
  if (primaries.length !== 1 || live.length !== cluster.nodes.length) return null;
  const p = primaries[0]!;
  const sql = p.sql({ timeoutS: 1 });
  try {
    const rows = await sql`SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'`;
    return rows[0]!.n === cluster.nodes.length - 1 ? p : null;
  } catch {
    return null;
  } finally {
    await sql.end({ timeout: 0 }).catch(() => {});
  }
}

export async function waitHealthy(cluster: TestCluster, timeoutMs: number): Promise<TestNode> {
  return await cluster.waitFor(
    "one primary and all replicas streaming",
    () => healthyPrimary(cluster),
    timeoutMs,
  );
}

/** Resident set size of `pid` in MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Resolves with the time (performance.now()) at which etcd deletes `key`, e.g. when the leader lease expires.
 * Uses etcd's JSON gateway watch stream; `abort` ends the watch.
 */
export function watchDelete(clientUrl: string, key: string, abort: AbortSignal): Promise<number> {
  const b64 = btoa(key);
  return (async () => {
    const r = await fetch(`${clientUrl}/v3/watch`, {
      method: "POST",
      body: JSON.stringify({ create_request: { key: b64 } }),
      signal: abort,
    });
    let buf = "";
    for await (const chunk of r.body!.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      // The gateway sends one JSON object per message, newline-separated.
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        if (/"type":\s*"DELETE"/.test(line)) return performance.now();
      }
      if (/"type":\s*"DELETE"/.test(buf)) return performance.now();
    }
    throw new Error(`watch on ${key} ended without a delete`);
  })();
}
