/**
 * Tags, dynamic configuration, scheduled restart, reinitialize and the watchdog on a real 3-node cluster
 * (PostgreSQL 15 + etcd, agents through bin/pgwarden):
 * - node1 arms a watchdog with Patroni's testing driver on a named pipe the test reads;
 * - node2 is tagged `clonefrom`; node3 `replicatefrom: node2`, `noloadbalance` and `nofailover`;
 * - a parameter changed with PATCH /config reaches every member, a restart-requiring one shows pending_restart
 *   until `ctl restart --scheduled --pending` performs it;
 * - `POST /reinitialize` on node3 re-clones it from the clonefrom member with its progress in `state`;
 * - when the leader goes away, only node2 may take over.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startCluster, type TestCluster, type TestNode } from "../helpers/cluster.ts";
import { runCtlProcess } from "../ctl/run_ctl.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function query<T>(node: TestNode, text: string): Promise<T[]> {
  const sql = node.sql();
  try {
    return (await sql.unsafe(text)) as unknown as T[];
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function status(n: TestNode): Promise<Record<string, unknown>> {
  return (await n.api("/patroni")).body as Record<string, unknown>;
}

async function show(n: TestNode, guc: string): Promise<string> {
  const [r] = await query<Record<string, string>>(n, `SHOW ${guc}`);
  return Object.values(r!)[0]!;
}

/** Everything written to the watchdog pipe until its writer closes it. */
async function readPipe(path: string): Promise<string> {
  const f = await Deno.open(path, { read: true });
  let out = "";
  const buf = new Uint8Array(4096);
  const dec = new TextDecoder();
  for (;;) {
    const n = await f.read(buf);
    if (n === null) break;
    out += dec.decode(buf.subarray(0, n));
  }
  f.close();
  return out;
}

/** etcd v3 JSON gateway: the key's value and revisions at `revision` (0 = now). */
async function etcdGet(
  url: string,
  key: string,
  revision = 0,
): Promise<{ header: number; mod: number; value: string | null }> {
  const r = await fetch(`${url}/v3/kv/range`, {
    method: "POST",
    body: JSON.stringify({ key: btoa(key), ...(revision ? { revision: String(revision) } : {}) }),
  });
  const j = await r.json() as {
    header: { revision: string };
    kvs?: { mod_revision: string; value: string }[];
  };
  const kv = j.kvs?.[0];
  return {
    header: Number(j.header.revision),
    mod: kv ? Number(kv.mod_revision) : 0,
    value: kv ? atob(kv.value) : null,
  };
}

/** Every `state` a member key held after revision `since`, oldest first (walks the key's history back). */
async function memberStatesSince(url: string, key: string, since: number): Promise<string[]> {
  const out: string[] = [];
  let at = await etcdGet(url, key);
  while (at.value !== null && at.mod > since) {
    const st = String(JSON.parse(at.value).state);
    if (out[0] !== st) out.unshift(st);
    at = await etcdGet(url, key, at.mod - 1);
  }
  return out;
}

const patch = (n: TestNode, body: unknown) =>
  n.api("/config", {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

Deno.test("tags, dynamic configuration, scheduled restart, reinitialize and watchdog", opts, async (t) => {
  const wdDir = await Deno.makeTempDir({ prefix: "pgwarden-wd-" });
  await Deno.chmod(wdDir, 0o755);
  const fifo = `${wdDir}/watchdog`;
  assert((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
  const pipe = readPipe(fifo);
  let cluster: TestCluster | null = null;
  try {
    cluster = await startCluster({
      nodes: 3,
      sequential: true,
      node: (i) =>
        i === 0
          ? { extra: { watchdog: { mode: "required", driver: "testing", device: fifo } } }
          : i === 1
          ? { tags: { clonefrom: true } }
          : { tags: { replicatefrom: "node2", noloadbalance: true, nofailover: true } },
    });
    const c = cluster;
    const [node1, node2, node3] = c.nodes as [TestNode, TestNode, TestNode];
    await c.waitHealthy(3);

    await t.step(
      "replicatefrom: node3 streams from node2, which holds its slot; the leader does not",
      async () => {
        await c.waitFor("node3 streaming from node2", async () => {
          const rows = await query<{ application_name: string; state: string }>(
            node2,
            "SELECT application_name, state FROM pg_stat_replication",
          );
          return rows.some((r) => r.application_name === "node3" && r.state === "streaming");
        }, 60_000);
        const onLeader = await query<{ application_name: string }>(
          node1,
          "SELECT application_name FROM pg_stat_replication ORDER BY 1",
        );
        assertEquals(onLeader.map((r) => r.application_name), ["node2"]);
        const slots2 = await query<{ slot_name: string; active: boolean }>(
          node2,
          "SELECT slot_name, active FROM pg_replication_slots",
        );
        // node3's slot is in use on node2. Like Patroni 4, a replica may also keep an inactive copy of the
        // leader's member slot (advanced from status.slots) so the leader could stream from it after a failover.
        const active2 = Object.fromEntries(slots2.map((s) => [s.slot_name, s.active]));
        assertEquals(active2.node3, true);
        assertEquals(
          slots2.filter((s) => s.slot_name !== "node3").map((s) => [s.slot_name, s.active]),
          "node1" in active2 ? [["node1", false]] : [],
        );
        const slots1 = await query<{ slot_name: string }>(
          node1,
          "SELECT slot_name FROM pg_replication_slots",
        );
        assertEquals(slots1.map((s) => s.slot_name), ["node2"]);
      },
    );

    await t.step("noloadbalance: GET /replica answers 503 on node3 only", async () => {
      assertEquals((await node3.api("/replica")).status, 503);
      assertEquals((await node2.api("/replica")).status, 200);
      assertEquals((await status(node3)).tags, {
        replicatefrom: "node2",
        noloadbalance: true,
        nofailover: true,
      });
    });

    await t.step(
      "PATCH /config: a reload parameter reaches every member, a restart one is pending",
      async () => {
        const r = await patch(node3, {
          postgresql: { parameters: { work_mem: "12MB", max_connections: 60 } },
        });
        assertEquals(r.status, 200, r.text);
        for (const n of c.nodes) {
          await c.waitFor(
            `work_mem on ${n.name}`,
            async () => (await show(n, "work_mem")) === "12MB",
            30_000,
          );
          await c.waitFor(`pending_restart on ${n.name}`, async () => {
            const s = await status(n);
            const reason = s.pending_restart_reason as Record<string, { new_value: string }> | undefined;
            return s.pending_restart === true && reason?.max_connections?.new_value === "60";
          }, 30_000);
          assertEquals(await show(n, "max_connections"), "50");
        }
        // Every member caches the cluster's configuration in its data directory.
        for (const n of c.nodes) {
          await c.waitFor(`dynamic cache on ${n.name}`, async () => {
            const cached = JSON.parse(await Deno.readTextFile(`${n.dataDir}/patroni.dynamic.json`));
            return cached.postgresql.parameters.max_connections === 60;
          }, 30_000);
        }
      },
    );

    await t.step("an invalid value is refused and nothing of that document is applied", async () => {
      const r = await patch(node1, {
        postgresql: { parameters: { work_mem: "lots", statement_timeout: "5s" } },
      });
      assertEquals(r.status, 400, r.text);
      assert(r.text.includes("work_mem"), r.text);
      const cfg = (await node1.api("/config")).body as {
        postgresql: { parameters: Record<string, unknown> };
      };
      assertEquals(cfg.postgresql.parameters.work_mem, "12MB");
      assertEquals(cfg.postgresql.parameters.statement_timeout, undefined);
      assertEquals(await show(node2, "statement_timeout"), "0");
    });

    await t.step("ctl restart --scheduled --pending restarts every member at that time", async () => {
      const when = new Date(Date.now() + 4000).toISOString();
      const r = await runCtlProcess(
        ["restart", c.opts.scope, "--scheduled", when, "--pending", "--force"],
        { config: node1.configPath },
      );
      assertEquals(r.code, 0, r.stdout + r.stderr);
      for (const n of c.nodes) {
        assert(r.stdout.includes(`Success: restart scheduled on member ${n.name}`), r.stdout);
      }
      const s = await status(node2);
      assertEquals((s.scheduled_restart as { restart_pending?: boolean })?.restart_pending, true);
      const before = await Promise.all(c.nodes.map((n) => n.postmasterPid()));
      for (const [i, n] of c.nodes.entries()) {
        await c.waitFor(`${n.name} restarted with max_connections 60`, async () => {
          const st = await status(n);
          return n.postmasterPid() !== before[i] && st.state === "running" &&
            st.pending_restart === undefined &&
            st.scheduled_restart === undefined && (await show(n, "max_connections")) === "60";
        }, 40_000);
      }
      await c.waitHealthy(3);
    });

    await t.step(
      "POST /reinitialize re-clones node3 from the clonefrom member, progress in state",
      async () => {
        // The member key's history shows the progress, every write of it (polling could miss a fast clone).
        const key = `/service/${c.opts.scope}/members/node3`;
        const since = (await etcdGet(c.etcd.clientUrl, key)).header;
        const pidBefore = node3.postmasterPid();
        const r = await node3.api("/reinitialize", { method: "POST", body: "{}" });
        assertEquals([r.status, r.text], [200, "reinitialize started"]);
        await c.waitFor("node3 streaming from node2 again", async () => {
          const rows = await query<{ application_name: string; state: string }>(
            node2,
            "SELECT application_name, state FROM pg_stat_replication",
          );
          return node3.postmasterPid() !== pidBefore &&
            rows.some((x) => x.application_name === "node3" && x.state === "streaming");
        }, 60_000);
        await c.waitFor("node3 running", async () => (await status(node3)).state === "running", 10_000);
        const states = await memberStatesSince(c.etcd.clientUrl, key, since);
        const progress = ["stopping", "creating replica", "starting", "running"];
        assertEquals(states.filter((x) => progress.includes(x)), progress, states.join(" → "));
        assert(node3.logs.some((l) => l.includes("reinitializing: cloning from replica 'node2'")), c.tail());
      },
    );

    await t.step(
      "nofailover: with the leader shut down, node2 takes over and node3 never races",
      async () => {
        await node1.stopAgent();
        const next = await c.waitHealthy(2, 60_000);
        assertEquals(next.name, "node2");
        assertEquals((await status(node3)).role, "replica");
        const raced = node3.logs.filter((l) => /promoted self|acquir/.test(l));
        assertEquals(raced, []);
      },
    );
  } finally {
    await cluster?.stop();
    // Release the reader if the agent never opened the pipe.
    const w = await Promise.race([
      Deno.open(fifo, { write: true }).then((f) => f.close()),
      new Promise((r) => setTimeout(r, 500)),
    ]).catch(() => {});
    void w;
  }
  await t.step(
    "watchdog: armed with ttl - safety_margin, a keepalive per renewal, magic close on shutdown",
    async () => {
      const got = await pipe;
      await Deno.remove(wdDir, { recursive: true });
      assert(got.startsWith("Ctimeout=3\n"), JSON.stringify(got.slice(0, 40)));
      const keepalives = got.slice("Ctimeout=3\n".length).match(/^1+/)?.[0].length ?? 0;
      assert(keepalives >= 10, `${keepalives} keepalives`);
      assert(got.endsWith("V"), JSON.stringify(got.slice(-20)));
    },
  );
});
