import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { CitusCoordinator } from "../../src/citus/coordinator.ts";
import type { CatalogConn } from "../../src/citus/catalog.ts";
import type { CatalogStep, PgDistNode } from "../../src/citus/types.ts";
import { type ClusterSnapshot, emptySnapshot, type Member } from "../../src/dcs/types.ts";
import { createLogger } from "../../src/agent/log.ts";
import { realClock } from "../../src/util/clock.ts";
import { CatalogModel } from "./catalog_model.ts";

/** A CatalogConn over the catalog model, with real transaction semantics (ROLLBACK restores). */
class FakeConn implements CatalogConn {
  saved: CatalogModel | null = null;
  readonly calls: string[] = [];
  closed = false;
  constructor(public model: CatalogModel) {}
  readNodes(): Promise<PgDistNode[]> {
    return Promise.resolve(this.model.rows.map((r) => ({ ...r })));
  }
  apply(s: CatalogStep, cooldownMs: number): Promise<void> {
    this.calls.push(
      `${s.op}${"nodeid" in s ? ` ${s.nodeid}` : ""} ${s.host}:${s.port} cooldown=${cooldownMs}`,
    );
    this.model.apply(s);
    return Promise.resolve();
  }
  begin(): Promise<void> {
    if (this.saved) throw new Error("already in a transaction");
    this.saved = this.model.clone();
    this.calls.push("BEGIN");
    return Promise.resolve();
  }
  commit(): Promise<void> {
    this.saved = null;
    this.calls.push("COMMIT");
    return Promise.resolve();
  }
  rollback(): Promise<void> {
    if (this.saved) this.model = this.saved;
    this.saved = null;
    this.calls.push("ROLLBACK");
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const member = (name: string, port: number, role: string, state = "running"): Member => ({
  name,
  version: "1",
  data: {
    conn_url: `postgres://127.0.0.1:${port}/postgres`,
    api_url: `http://127.0.0.1:1/patroni`,
    role,
    state,
  },
});

function group(leader: string | null, members: Member[]): ClusterSnapshot {
  return { ...emptySnapshot(), leader: leader ? { name: leader, version: "1" } : null, members };
}

function coordinatorView(workers: Map<number, ClusterSnapshot>): ClusterSnapshot {
  return { ...group("c1", [member("c1", 5000, "primary")]), groups: workers };
}

function setup(rows: PgDistNode[] = []) {
  const conn = new FakeConn(new CatalogModel(rows));
  const logs: string[] = [];
  let cluster = coordinatorView(new Map());
  let leader = true;
  const c = new CitusCoordinator({
    self: { name: "c1", addr: { host: "127.0.0.1", port: 5000 } },
    secondaries: true,
    openConn: () => conn,
    freshCluster: () => Promise.resolve(cluster),
    isLeaderPrimary: () => leader,
    retryTimeoutS: () => 3,
    log: createLogger({ level: "DEBUG", write: (l) => logs.push(l) }),
    clock: realClock,
  });
  return {
    c,
    conn,
    logs,
    setCluster(s: ClusterSnapshot) {
      cluster = s;
    },
    setLeader(v: boolean) {
      leader = v;
    },
  };
}

const rowsOf = (conn: FakeConn) =>
  conn.model.rows.map((r) => `${r.groupid}/${r.role}/${r.nodeid}=${r.host}:${r.port}`).sort();

const ev = (type: string, leader: string, extra: Record<string, unknown> = {}) => ({
  type,
  group: 1,
  leader,
  timeout: 30,
  cooldown: 2,
  ...extra,
});

Deno.test("reconcile registers the coordinator and a healthy worker group, then is a no-op", async () => {
  const { c, conn, setCluster } = setup();
  const workers = new Map([[1, group("w1", [member("w1", 5101, "primary"), member("w2", 5102, "replica")])]]);
  setCluster(coordinatorView(workers));
  assert(await c.reconcile(coordinatorView(workers)));
  assertEquals(rowsOf(conn), [
    "0/primary/1=127.0.0.1:5000",
    "1/primary/2=127.0.0.1:5101",
    "1/secondary/3=127.0.0.1:5102",
  ]);
  assertEquals(conn.calls.filter((x) => x === "BEGIN").length, 2); // one transaction per group
  const before = conn.calls.length;
  assert(await c.reconcile(coordinatorView(workers)));
  assertEquals(conn.calls.length, before);
});

Deno.test("reconcile does nothing unless this node leads the coordinator as primary", async () => {
  const { c, conn, setLeader } = setup();
  setLeader(false);
  assertEquals(await c.reconcile(coordinatorView(new Map())), false);
  assertEquals(conn.calls, []);
});

const registered = (): PgDistNode[] => [
  { nodeid: 1, groupid: 0, role: "primary", host: "127.0.0.1", port: 5000 },
  { nodeid: 2, groupid: 1, role: "primary", host: "127.0.0.1", port: 5101 },
  { nodeid: 3, groupid: 1, role: "secondary", host: "127.0.0.1", port: 5102 },
];

Deno.test("switchover events hold the group in one transaction and commit on after_promote", async () => {
  const { c, conn, setCluster } = setup(registered());
  setCluster(
    coordinatorView(
      new Map([[1, group("w1", [member("w1", 5101, "primary"), member("w2", 5102, "replica")])]]),
    ),
  );
  await c.handleEvent(ev("before_demote", "w1"));
  assertEquals(c.inFlightGroup, 1);
  assertEquals(conn.calls, ["BEGIN", "update 2 127.0.0.1-demoted:5101 cooldown=2000"]);
  // A reconcile pass meanwhile must not touch the catalog (nor end the transaction).
  assertEquals(await c.reconcile(coordinatorView(new Map())), false);
  // w2 takes the lock.
  setCluster(
    coordinatorView(
      new Map([[1, group("w2", [member("w1", 5101, "demoted", "stopped"), member("w2", 5102, "replica")])]]),
    ),
  );
  await c.handleEvent(ev("before_promote", "w2"));
  await c.handleEvent(ev("after_promote", "w2"));
  assertEquals(c.inFlightGroup, null);
  assertEquals(conn.calls, [
    "BEGIN",
    "update 2 127.0.0.1-demoted:5101 cooldown=2000",
    "update 3 127.0.0.1:5101 cooldown=2000",
    "update 2 127.0.0.1:5102 cooldown=2000",
    "COMMIT",
  ]);
  assertEquals(rowsOf(conn), [
    "0/primary/1=127.0.0.1:5000",
    "1/primary/2=127.0.0.1:5102",
    "1/secondary/3=127.0.0.1:5101",
  ]);
});

Deno.test("a switchover transaction without after_promote is rolled back at its timeout", async () => {
  const { c, conn, logs, setCluster } = setup(registered());
  setCluster(coordinatorView(new Map([[1, group("w1", [member("w1", 5101, "primary")])]])));
  await c.handleEvent(ev("before_demote", "w1", { timeout: 0.2 }));
  assertEquals(c.inFlightGroup, 1);
  await new Promise((r) => setTimeout(r, 400));
  assertEquals(c.inFlightGroup, null);
  assertEquals(conn.calls.at(-1), "ROLLBACK");
  assertEquals(rowsOf(conn), rowsOf(new FakeConn(new CatalogModel(registered()))));
  assert(logs.some((l) => l.includes("no after_promote from group 1 within 0.2 s")));
});

Deno.test("events are discarded unless the DCS confirms the sender leads its group", async () => {
  const { c, conn, logs, setCluster } = setup(registered());
  setCluster(coordinatorView(new Map([[1, group("w1", [member("w1", 5101, "primary")])]])));
  await c.handleEvent(ev("before_demote", "w9"));
  await c.handleEvent(ev("before_demote", "w1", { group: 7 }));
  await c.handleEvent({ type: "before_demote", group: "1" });
  assertEquals(conn.calls, []);
  assert(logs.some((l) => l.includes("w9 does not lead group 1")));
  assert(logs.some((l) => l.includes("malformed event")));
});

Deno.test("before_promote after a failover (no before_demote) repoints the primary row and commits", async () => {
  const { c, conn, setCluster } = setup(registered());
  setCluster(coordinatorView(new Map([[1, group("w2", [member("w2", 5102, "replica")])]])));
  await c.handleEvent(ev("before_promote", "w2"));
  assertEquals(c.inFlightGroup, 1);
  await c.handleEvent(ev("after_promote", "w2"));
  assertEquals(rowsOf(conn), [
    "0/primary/1=127.0.0.1:5000",
    "1/primary/2=127.0.0.1:5102",
    "1/secondary/3=127.0.0.1-demoted:5102",
  ]);
  assertEquals(conn.calls.at(-1), "COMMIT");
});

Deno.test("losing the coordinator leadership rolls back an open switchover transaction", async () => {
  const { c, conn, setCluster, setLeader } = setup(registered());
  setCluster(coordinatorView(new Map([[1, group("w1", [member("w1", 5101, "primary")])]])));
  await c.handleEvent(ev("before_demote", "w1"));
  setLeader(false);
  await c.stepDown();
  assertEquals(c.inFlightGroup, null);
  assertEquals(conn.calls.slice(-1), ["ROLLBACK"]);
  assert(conn.closed);
  assertEquals(rowsOf(conn)[1], "1/primary/2=127.0.0.1:5101");
});

Deno.test("a reconcile pass from a snapshot older than a committed switchover does not move the row back", async () => {
  const { c, conn, setCluster } = setup(registered());
  const before = group("w1", [member("w1", 5101, "primary"), member("w2", 5102, "replica")]);
  setCluster(coordinatorView(new Map([[1, before]])));
  await c.handleEvent(ev("before_demote", "w1"));
  setCluster(
    coordinatorView(
      new Map([[1, group("w2", [member("w1", 5101, "demoted", "stopped"), member("w2", 5102, "replica")])]]),
    ),
  );
  await c.handleEvent(ev("before_promote", "w2"));
  await c.handleEvent(ev("after_promote", "w2"));
  // The DCS now says w2 leads (its member key not yet updated); the HA cycle's snapshot still says w1.
  assert(await c.reconcile(coordinatorView(new Map([[1, before]]))));
  assertEquals(rowsOf(conn).filter((r) => r.startsWith("1/primary")), ["1/primary/2=127.0.0.1:5102"]);
});
