import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { planCatalog } from "../../src/citus/plan.ts";
import type { CatalogStep, DesiredGroup, NodeAddr, PgDistNode } from "../../src/citus/types.ts";
import { CatalogModel } from "./catalog_model.ts";

const a = (host: string, port = 5432): NodeAddr => ({ host, port });
const row = (nodeid: number, groupid: number, role: "primary" | "secondary", host: string): PgDistNode => ({
  nodeid,
  groupid,
  role,
  host,
  port: 5432,
});
const want = (group: number, primary: string, secondaries: string[] = []): DesiredGroup => ({
  group,
  primary: a(primary),
  secondaries: secondaries.map((h) => a(h)),
});
const desired = (...g: DesiredGroup[]) => new Map(g.map((x) => [x.group, x]));

/** Apply a plan to the model the way the coordinator does; returns the removal errors. */
function execute(m: CatalogModel, rows: PgDistNode[], d: Map<number, DesiredGroup>): string[] {
  const p = planCatalog(rows, d);
  for (const b of p.batches) m.transaction(b.steps);
  const errors: string[] = [];
  for (const r of p.removals) {
    try {
      m.apply(r);
    } catch (e) {
      errors.push(String(e));
    }
  }
  return errors;
}

/** The catalog holds exactly what `d` wants for each desired group. */
function assertConverged(rows: PgDistNode[], d: Map<number, DesiredGroup>) {
  for (const g of d.values()) {
    const mine = rows.filter((r) => r.groupid === g.group);
    const p = mine.filter((r) => r.role === "primary");
    assertEquals(
      p.map((r) => `${r.host}:${r.port}`),
      [`${g.primary.host}:${g.primary.port}`],
      `group ${g.group}`,
    );
    assertEquals(
      mine.filter((r) => r.role === "secondary").map((r) => `${r.host}:${r.port}`).sort(),
      g.secondaries.map((s) => `${s.host}:${s.port}`).sort(),
      `group ${g.group} secondaries`,
    );
  }
}

Deno.test("planCatalog registers the coordinator, worker primaries and secondaries in an empty catalog", () => {
  const d = desired(want(0, "c1"), want(1, "w1a", ["w1b"]), want(2, "w2a", ["w2b"]));
  const p = planCatalog([], d);
  assertEquals(p.batches.map((b) => b.group), [0, 1, 2]);
  assertEquals(p.batches[0]!.steps, [{ op: "set_coordinator", host: "c1", port: 5432 }]);
  assertEquals(p.batches[1]!.steps, [
    { op: "add", group: 1, role: "primary", host: "w1a", port: 5432 },
    { op: "add", group: 1, role: "secondary", host: "w1b", port: 5432 },
  ]);
  const m = new CatalogModel([]);
  execute(m, [], d);
  assertConverged(m.rows, d);
  const again = planCatalog(m.rows, d);
  assertEquals([again.batches, again.removals], [[], []]);
});

Deno.test("planCatalog after a failover keeps the primary's nodeid and parks the promoted replica's row", () => {
  const rows = [row(1, 0, "primary", "c1"), row(2, 1, "primary", "w1a"), row(3, 1, "secondary", "w1b")];
  const d = desired(want(0, "c1"), want(1, "w1b"));
  const p = planCatalog(rows, d);
  assertEquals(p.batches, [{
    group: 1,
    steps: [
      { op: "update", nodeid: 3, host: "w1b-demoted", port: 5432, why: "free its address" },
      { op: "update", nodeid: 2, host: "w1b", port: 5432, why: "new primary" },
    ],
  }]);
  assertEquals(p.removals, [{ op: "remove", host: "w1b-demoted", port: 5432 }]);
  const m = new CatalogModel(rows);
  execute(m, rows, d);
  assertConverged(m.rows, d);
  assertEquals(m.rows.find((r) => r.role === "primary" && r.groupid === 1)!.nodeid, 2);
});

Deno.test("planCatalog swaps a primary and a secondary by reusing rows (no removal)", () => {
  const rows = [row(1, 0, "primary", "c1"), row(2, 1, "primary", "w1a"), row(3, 1, "secondary", "w1b")];
  const d = desired(want(0, "c1"), want(1, "w1b", ["w1a"]));
  const p = planCatalog(rows, d);
  assertEquals(p.removals, []);
  assertEquals(p.batches[0]!.steps.length, 3); // park one, then both land
  const m = new CatalogModel(rows);
  execute(m, rows, d);
  assertConverged(m.rows, d);
  assertEquals(m.rows.map((r) => r.nodeid).sort(), [1, 2, 3]);
});

Deno.test("planCatalog after before_demote parked the primary row needs no parking", () => {
  const rows = [
    row(1, 0, "primary", "c1"),
    row(2, 1, "primary", "w1a-demoted"),
    row(3, 1, "secondary", "w1b"),
  ];
  const d = desired(want(0, "c1"), want(1, "w1b", ["w1a"]));
  assertEquals(planCatalog(rows, d).batches[0]!.steps, [
    { op: "update", nodeid: 3, host: "w1a", port: 5432, why: "secondary" },
    { op: "update", nodeid: 2, host: "w1b", port: 5432, why: "new primary" },
  ]);
});

Deno.test("planCatalog leaves groups without a desired state alone", () => {
  const rows = [row(1, 0, "primary", "c1"), row(2, 1, "primary", "w1a"), row(3, 1, "secondary", "w1b")];
  const p = planCatalog(rows, desired(want(0, "c1")));
  assertEquals([p.batches, p.removals, p.blocked], [[], [], []]);
});

Deno.test("planCatalog parks another group's secondary that holds a needed address", () => {
  const rows = [row(1, 0, "primary", "c1"), row(2, 1, "primary", "w1a"), row(3, 1, "secondary", "x")];
  const d = desired(want(0, "c1"), want(2, "x"));
  const m = new CatalogModel(rows);
  execute(m, rows, d);
  assertConverged(m.rows, d);
  assert(m.rows.some((r) => r.nodeid === 3 && r.host === "x-demoted"));
});

Deno.test("planCatalog waits for the group whose primary holds a needed address, and orders batches", () => {
  const rows = [row(1, 0, "primary", "c1"), row(2, 1, "primary", "x"), row(3, 2, "primary", "y")];
  // Group 2 needs x, which group 1's primary holds: blocked while group 1 has no desired state...
  const blocked = planCatalog(rows, desired(want(2, "x")));
  assertEquals(blocked.batches, []);
  assertEquals(blocked.blocked, ["group 2: x:5432 is held by the primary row 2 of group 1"]);
  // ...and planned after group 1 once group 1 moves away.
  const d = desired(want(1, "z"), want(2, "x"));
  const p = planCatalog(rows, d);
  assertEquals(p.batches.map((b) => b.group), [1, 2]);
  const m = new CatalogModel(rows);
  execute(m, rows, d);
  assertConverged(m.rows, d);
});

Deno.test("planCatalog: removal failures (a metadata node down) leave a converged primary and retry later", () => {
  const rows = [row(1, 0, "primary", "c1"), row(2, 1, "primary", "w1a"), row(3, 1, "secondary", "w1b")];
  const d = desired(want(0, "c1"), want(1, "w1b"));
  const m = new CatalogModel(rows);
  m.metadataNodeDown = true;
  assertEquals(execute(m, rows, d).length, 1);
  assertEquals(m.rows.find((r) => r.groupid === 1 && r.role === "primary")!.host, "w1b");
  m.metadataNodeDown = false;
  const again = planCatalog(m.rows, d);
  assertEquals([again.batches, again.removals], [[], [{ op: "remove", host: "w1b-demoted", port: 5432 }]]);
  execute(m, m.rows, d);
  assertConverged(m.rows, d);
});

// --- randomised: any valid catalog, any desired state, any interruption point -------------------------------

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCase(seed: number) {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const pool = ["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h1-demoted", "h2-demoted"].map((h) => a(h));
  const shuffled = () => [...pool].sort(() => r() - 0.5);
  const rows: PgDistNode[] = [];
  let id = 1;
  for (const addr of shuffled().slice(0, Math.floor(r() * 8))) {
    const g = pick([0, 1, 2, 3]);
    const role = rows.some((x) => x.groupid === g && x.role === "primary") || r() < 0.4
      ? "secondary"
      : "primary";
    rows.push({ nodeid: id++, groupid: g, role, ...addr });
  }
  // Desired addresses are unique across groups (one PostgreSQL is in one group) and never an address held by
  // the primary of a group that stays undesired (that case is blocked, tested above).
  const groups = [0, 1, 2, 3].filter(() => r() < 0.7);
  const untouchable = rows.filter((x) => x.role === "primary" && !groups.includes(x.groupid));
  const free = shuffled().filter((p) => !untouchable.some((u) => u.host === p.host));
  const d = new Map<number, DesiredGroup>();
  for (const g of groups) {
    const primary = free.shift();
    if (!primary) break;
    const secondaries = free.splice(0, Math.floor(r() * 3));
    d.set(g, { group: g, primary, secondaries });
  }
  return { rows, d };
}

Deno.test("planCatalog converges from any catalog, and from any interrupted prefix of its plan (2000 seeds)", () => {
  let cycles = 0;
  for (let seed = 1; seed <= 2000; seed++) {
    const { rows, d } = randomCase(seed);
    const p = planCatalog(rows, d);
    if (p.blocked.length) {
      // Only primaries of two groups wanting each other's address (hosts trading groups) stay blocked.
      const blockedGroups = p.blocked.map((b) => /^group (\d+):/.exec(b)![1]);
      for (const b of p.blocked) {
        assert(blockedGroups.includes(/of group (\d+)$/.exec(b)![1]), `seed ${seed}: ${p.blocked}`);
      }
      cycles++;
      continue;
    }
    const primaryIds = new Map(rows.filter((x) => x.role === "primary").map((x) => [x.groupid, x.nodeid]));
    // Stop after k committed batches (a crash or a failed transaction), then re-plan from what is there.
    for (let k = 0; k <= p.batches.length; k++) {
      const m = new CatalogModel(rows);
      for (const b of p.batches.slice(0, k)) m.transaction(b.steps);
      try {
        for (let pass = 0; pass < 2; pass++) execute(m, m.rows, d);
      } catch (e) {
        throw new Error(`seed ${seed}, prefix ${k}: ${e}\n${JSON.stringify({ rows, d: [...d.values()] })}`);
      }
      assertConverged(m.rows, d);
      const done = planCatalog(m.rows, d);
      assertEquals([done.batches, done.removals], [[], []], `seed ${seed} prefix ${k} is not a fixpoint`);
      for (const [g, id] of primaryIds) {
        if (!d.has(g)) continue;
        assertEquals(m.rows.find((x) => x.groupid === g && x.role === "primary")?.nodeid, id, `seed ${seed}`);
      }
    }
  }
  assert(cycles < 100, `${cycles} seeds blocked`);
});

Deno.test("planCatalog never asks Citus for an address another row holds (every step checked)", () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const { rows, d } = randomCase(seed);
    const m = new CatalogModel(rows);
    const steps: CatalogStep[] = planCatalog(rows, d).batches.flatMap((b) => b.steps);
    for (const s of steps) m.apply(s); // throws on a conflict
  }
});
