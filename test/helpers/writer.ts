/**
 * A committing writer for integration tests: inserts increasing ids through whatever member accepts writes and
 * records every id whose INSERT returned success (acknowledged). A commit waiting for synchronous standbys is
 * abandoned from the client side after `waitMs` (the connection is closed, so PostgreSQL never reports it as
 * committed to us); never with statement_timeout, which would turn a cancelled synchronous-replication wait
 * into a success with only a WARNING.
 */
import { pgClient } from "./pg_client.ts";
import { tolerateWritesAfterServerClose } from "../../src/postgres/write_after_close.ts";
import type { TestCluster, TestNode } from "./cluster.ts";

// postgres.js on Deno: a write racing the server closing the connection must not end the process.
tolerateWritesAfterServerClose();

export interface Writer {
  acked: number[];
  /** Ids whose outcome is unknown (timed out or failed mid-flight). */
  unknown: number[];
  stop(): Promise<void>;
}

function connect(n: TestNode) {
  return pgClient({ host: "127.0.0.1", port: n.pgPort, connectTimeoutS: 1, idleTimeoutS: 1 });
}

export function startWriter(cluster: TestCluster, opts: { waitMs?: number; table?: string } = {}): Writer {
  const waitMs = opts.waitMs ?? 3000;
  const table = opts.table ?? "acked";
  const acked: number[] = [];
  const unknown: number[] = [];
  let stop = false;
  let next = 1;
  const done = (async () => {
    while (!stop) {
      for (const n of cluster.nodes) {
        if (stop) break;
        const sql = connect(n);
        try {
          while (!stop) {
            const id = next++;
            let timer: ReturnType<typeof setTimeout> | undefined;
            const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), waitMs)));
            const r = await Promise.race([sql.unsafe(`INSERT INTO ${table}(id) VALUES (${id})`), timeout])
              .finally(() => clearTimeout(timer));
            if (r === "timeout") {
              unknown.push(id);
              throw new Error("commit did not return in time");
            }
            acked.push(id);
            await new Promise((r) => setTimeout(r, 20));
          }
        } catch {
          // The last id may or may not have committed: it is never counted as acknowledged.
          if (!unknown.includes(next - 1) && !acked.includes(next - 1)) unknown.push(next - 1);
        } finally {
          await sql.end({ timeout: 0 }).catch(() => {});
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    acked,
    unknown,
    async stop() {
      stop = true;
      await done;
    },
  };
}

/** Acknowledged ids missing on `node`. */
export async function missingOn(node: TestNode, ids: number[], table = "acked"): Promise<number[]> {
  const sql = node.sql();
  try {
    const rows = await sql.unsafe(`SELECT id FROM ${table}`);
    const have = new Set(rows.map((r) => Number(r.id)));
    return ids.filter((i) => !have.has(i));
  } finally {
    await sql.end();
  }
}

/** Read a key of this cluster straight from etcd (JSON gateway), or null when absent. */
export async function etcdGet(cluster: TestCluster, key: string): Promise<string | null> {
  const full = `/service/${cluster.opts.scope}/${key}`;
  const r = await fetch(`http://${cluster.etcd.endpoint}/v3/kv/range`, {
    method: "POST",
    body: JSON.stringify({ key: btoa(full) }),
    signal: AbortSignal.timeout(3000),
  });
  const body = await r.json() as { kvs?: { value: string }[] };
  const v = body.kvs?.[0]?.value;
  return v === undefined ? null : atob(v);
}
