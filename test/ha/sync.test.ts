/** Synchronous replication, pure part: SSN syntax, candidates, readiness, priority plans, pre-promote values. */
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import type { Member, SyncValue } from "../../src/dcs/types.ts";
import type { ReplicationRow } from "../../src/postgres/port.ts";
import {
  currentSync,
  formatSsn,
  parseSsn,
  planPriority,
  prePromotePriority,
  prePromoteQuorum,
  quoteStandbyName,
  type Readiness,
  SsnParseError,
  STRICT_PLACEHOLDER,
  strictModeStep,
  syncCandidates,
  syncKeyValue,
  updateReadiness,
} from "../../src/ha/sync.ts";

Deno.test("parseSsn: PostgreSQL's three syntaxes, quoting, star, placeholder", async (t) => {
  const cases: [string, ReturnType<typeof parseSsn>][] = [
    ["", { type: "off", hasStar: false, num: 0, members: [] }],
    ["  ", { type: "off", hasStar: false, num: 0, members: [] }],
    ["node1", { type: "priority", hasStar: false, num: 1, members: ["node1"] }],
    [" a , b ", { type: "priority", hasStar: false, num: 1, members: ["a", "b"] }],
    ["FiRsT", { type: "priority", hasStar: false, num: 1, members: ["first"] }],
    ["2 (b, A)", { type: "priority", hasStar: false, num: 2, members: ["a", "b"] }],
    ["FIRST 2 (a,b,c)", { type: "priority", hasStar: false, num: 2, members: ["a", "b", "c"] }],
    ['ANY 4("a",*,b)', { type: "quorum", hasStar: true, num: 4, members: ["*", "a", "b"] }],
    ['"1"', { type: "priority", hasStar: false, num: 1, members: ["1"] }],
    ['"we""ird"', { type: "priority", hasStar: false, num: 1, members: ['we"ird'] }],
    [`ANY 1 (${STRICT_PLACEHOLDER})`, { type: "quorum", hasStar: false, num: 1, members: [] }],
    [STRICT_PLACEHOLDER, { type: "priority", hasStar: false, num: 1, members: [] }],
  ];
  for (const [input, want] of cases) {
    await t.step(JSON.stringify(input), () => assertEquals(parseSsn(input), want));
  }
  for (const bad of ["1", "a,", 'ANY 4("a" b,"c c")', 'FIRST 4("a",)', "2 (,)", "a;b"]) {
    await t.step(`rejects ${JSON.stringify(bad)}`, () => throws(() => parseSsn(bad), SsnParseError));
  }
});

Deno.test("formatSsn: one name, N (list), ANY N (list), quoting, strict placeholder", () => {
  assertEquals(formatSsn([], { quorum: false }), null);
  assertEquals(formatSsn([], { quorum: true }), null);
  assertEquals(formatSsn(["node2"], { quorum: false }), "node2");
  assertEquals(formatSsn(["node3", "Node2"], { quorum: false }), "2 (node2,node3)");
  assertEquals(formatSsn(["node2"], { quorum: true, num: 1 }), "ANY 1 (node2)");
  assertEquals(formatSsn(["b", "a", "c"], { quorum: true, num: 2 }), "ANY 2 (a,b,c)");
  assertEquals(formatSsn(["my-node", "first"], { quorum: false }), '2 ("first","my-node")');
  assertEquals(formatSsn([], { quorum: false, num: 1 }), STRICT_PLACEHOLDER);
  assertEquals(formatSsn([], { quorum: true, num: 1 }), `ANY 1 (${STRICT_PLACEHOLDER})`);
  assertEquals(quoteStandbyName("a$b_1"), "a$b_1");
  assertEquals(quoteStandbyName('x"y'), '"x""y"');
  assertEquals(quoteStandbyName("ANY"), '"ANY"');
  // What we format, we parse back to the same names.
  for (const names of [["a"], ["a", "b"], ["first", "x-y"], ['q"q', "z"]]) {
    const v = formatSsn(names, { quorum: true, num: 1 })!;
    assertEquals(parseSsn(v).members, [...names].map((n) => n.toLowerCase()).sort());
  }
});

Deno.test("syncKeyValue: Patroni's exact JSON (leader, quorum, sorted sync_standby or null)", () => {
  assertEquals(
    JSON.stringify(syncKeyValue("node1", ["node3", "node2"], 1)),
    '{"leader":"node1","quorum":1,"sync_standby":"node2,node3"}',
  );
  assertEquals(
    JSON.stringify(syncKeyValue("node1", [], 0)),
    '{"leader":"node1","quorum":0,"sync_standby":null}',
  );
});

function member(name: string, tags: Record<string, unknown> = {}, state = "running"): Member {
  return { name, version: "1", data: { state, role: "replica", tags } };
}

function row(
  name: string,
  lsn: number,
  sync_state = "async",
  extra: Partial<ReplicationRow> = {},
): ReplicationRow {
  return {
    usename: "replicator",
    application_name: name,
    client_addr: "127.0.0.1",
    state: "streaming",
    sync_state,
    sync_priority: 0,
    write_lsn: lsn,
    flush_lsn: lsn,
    replay_lsn: lsn,
    ...extra,
  };
}

Deno.test("syncCandidates: eligibility and ordering", async (t) => {
  const members = [
    member("node1"),
    member("node2"),
    member("node3"),
    member("node4", { nosync: true }),
    member("node5", { sync_priority: 0 }),
    member("node6", {}, "starting"),
    member("node7", { nofailover: true }),
    member("node8", { sync_priority: 5 }),
  ];
  await t.step("filters us, nosync, sync_priority <= 0, not running, non-members, unknown LSN", () => {
    const { candidates } = syncCandidates({
      me: "node1",
      members,
      replication: [
        row("node1", 5),
        row("node2", 10),
        row("node4", 10),
        row("node5", 10),
        row("node6", 10),
        row("stranger", 10),
        row("node3", 10, "async", { flush_lsn: undefined }),
      ],
      primaryLsn: 20,
    });
    assertEquals(candidates.map((c) => c.name), ["node2"]);
  });
  await t.step("order: sync_priority, then sync_state sync first, then LSN; nofailover last", () => {
    const { candidates, maxLsn } = syncCandidates({
      me: "node1",
      members,
      replication: [row("node2", 10), row("node3", 5, "sync"), row("node7", 30), row("node8", 1)],
      primaryLsn: 40,
    });
    assertEquals(candidates.map((c) => c.name), ["node8", "node3", "node2", "node7"]);
    assertEquals(maxLsn, 30);
  });
  await t.step("the LSN column follows synchronous_commit; one candidate compares with the primary", () => {
    const { candidates, maxLsn } = syncCandidates({
      me: "node1",
      members,
      replication: [row("node2", 10, "async", { replay_lsn: 3 })],
      synchronousCommit: "remote_apply",
      primaryLsn: 40,
    });
    assertEquals(candidates[0]!.lsn, 3);
    assertEquals(maxLsn, 40);
  });
  await t.step("a replicatefrom member cascading behind a streaming member is skipped", () => {
    const chain = [member("node1"), member("node2"), member("node3", { replicatefrom: "node2" })];
    const both = syncCandidates({
      me: "node1",
      members: chain,
      replication: [row("node2", 1), row("node3", 1)],
      primaryLsn: 1,
    });
    assertEquals(both.candidates.map((c) => c.name), ["node2"]);
    const alone = syncCandidates({
      me: "node1",
      members: chain,
      replication: [row("node3", 1)],
      primaryLsn: 1,
    });
    assertEquals(alone.candidates.map((c) => c.name), ["node3"]);
  });
});

const R0: Readiness = { ssn: "", flushLsnAtChange: 100, ready: [] };

Deno.test("updateReadiness: a standby is confirmed only after reaching the flush LSN at the SSN change", () => {
  const cands = (
    lsn: number,
    state: string,
  ) => [{ name: "node2", syncState: state, lsn, nofailover: false, syncPriority: 1 }];
  const ssn = parseSsn("node2");
  assertEquals(
    updateReadiness(R0, { mode: "on", ssn, candidates: cands(99, "sync"), syncKey: null }).ready,
    [],
  );
  assertEquals(
    updateReadiness(R0, { mode: "on", ssn, candidates: cands(100, "async"), syncKey: null }).ready,
    [],
  );
  assertEquals(
    updateReadiness(R0, { mode: "on", ssn, candidates: cands(100, "sync"), syncKey: null }).ready,
    ["node2"],
  );
  // Already in the sync key: proven before.
  const key: SyncValue = { leader: "node1", sync_standby: "node2", quorum: 0 };
  assertEquals(
    updateReadiness(R0, { mode: "on", ssn, candidates: cands(1, "potential"), syncKey: key }).ready,
    ["node2"],
  );
  // Quorum mode never trusts the key (voters are written before all of them caught up).
  const q = parseSsn("ANY 1 (node2)");
  assertEquals(
    updateReadiness(R0, { mode: "quorum", ssn: q, candidates: cands(1, "quorum"), syncKey: key }).ready,
    [],
  );
  assertEquals(
    updateReadiness(R0, { mode: "quorum", ssn: q, candidates: cands(100, "quorum"), syncKey: key }).ready,
    [
      "node2",
    ],
  );
  // Not in SSN any more: readiness dropped.
  const was = { ...R0, ready: ["node2"] };
  assertEquals(
    updateReadiness(was, { mode: "on", ssn: parseSsn("node3"), candidates: [], syncKey: null }).ready,
    [],
  );
});

function cur(ssn: string, active: string[], confirmed: string[]) {
  const parsed = parseSsn(ssn);
  return { ssn: parsed, sync: parsed.members, active, confirmed };
}

Deno.test("currentSync: priority mode picks synchronous_node_count, quorum mode all (nofailover only to fill)", () => {
  const candidates = [
    { name: "node2", syncState: "sync", lsn: 100, nofailover: false, syncPriority: 1 },
    { name: "node3", syncState: "async", lsn: 50, nofailover: false, syncPriority: 1 },
    { name: "node4", syncState: "async", lsn: 100, nofailover: true, syncPriority: 1 },
  ];
  const base = {
    ssn: parseSsn("node2"),
    candidates,
    maxLsn: 100,
    readiness: { ...R0, ready: ["node2"] },
    maximumLagOnSyncnode: -1,
  };
  assertEquals(currentSync({ ...base, mode: "on", synchronousNodeCount: 1 }).active, ["node2"]);
  assertEquals(currentSync({ ...base, mode: "on", synchronousNodeCount: 1 }).confirmed, ["node2"]);
  assertEquals(currentSync({ ...base, mode: "on", synchronousNodeCount: 2 }).active, ["node2", "node3"]);
  assertEquals(currentSync({ ...base, mode: "quorum", synchronousNodeCount: 1 }).active, ["node2", "node3"]);
  assertEquals(currentSync({ ...base, mode: "quorum", synchronousNodeCount: 3 }).active, [
    "node2",
    "node3",
    "node4",
  ]);
  // maximum_lag_on_syncnode drops node3 (50 behind the best).
  assertEquals(
    currentSync({ ...base, mode: "on", synchronousNodeCount: 2, maximumLagOnSyncnode: 10 }).active,
    [
      "node2",
      "node4",
    ],
  );
});

Deno.test("planPriority: ordered steps keep /sync a subset of what PostgreSQL confirms", async (t) => {
  const key = (standbys: string | null): SyncValue => ({
    leader: "node1",
    sync_standby: standbys,
    quorum: 0,
  });
  await t.step("no sync key: create it with us and no standbys, then SSN, then confirm", () => {
    assertEquals(
      planPriority({ me: "node1", cur: cur("", ["node2"], []), syncKey: null, strict: false }).map((s) =>
        s.kind
      ),
      [
        "sync_key",
        "ssn",
        "confirm",
      ],
    );
  });
  await t.step("steady: nothing to do", () => {
    assertEquals(
      planPriority({
        me: "node1",
        cur: cur("node2", ["node2"], ["node2"]),
        syncKey: key("node2"),
        strict: false,
      }),
      [],
    );
  });
  await t.step("sync standby replaced: drop it from /sync before SSN changes", () => {
    const steps = planPriority({
      me: "node1",
      cur: cur("node2", ["node3"], []),
      syncKey: key("node2"),
      strict: false,
    });
    assertEquals(steps.map((s) => [s.kind, "standbys" in s ? s.standbys : "names" in s ? s.names : null]), [
      ["sync_key", []],
      ["ssn", ["node3"]],
      ["confirm", null],
    ]);
  });
  await t.step("someone else's leader in the key: take it over with no standbys", () => {
    const steps = planPriority({
      me: "node1",
      cur: cur("node2", ["node2"], ["node2"]),
      syncKey: { leader: "node9", sync_standby: "node2", quorum: 0 },
      strict: false,
    });
    assertEquals(steps[0], {
      kind: "sync_key",
      leader: "node1",
      standbys: [],
      quorum: 0,
      why: steps[0]!.why,
    });
  });
  await t.step("repair: SSN and key list the picked node but PostgreSQL does not confirm it", () => {
    const steps = planPriority({
      me: "node1",
      cur: cur("node2", ["node2"], []),
      syncKey: key("node2"),
      strict: false,
    });
    assertEquals(steps.map((s) => s.kind), ["sync_key", "ssn", "confirm"]);
  });
  await t.step("non-strict, no candidates: clear SSN", () => {
    const steps = planPriority({ me: "node1", cur: cur("node2", [], []), syncKey: key(null), strict: false });
    assertEquals(steps.map((s) => [s.kind, "names" in s ? s.names : null]), [["ssn", []]]);
  });
  await t.step("strict, no candidates: SSN keeps the recorded standby", () => {
    const steps = planPriority({ me: "node1", cur: cur("", [], []), syncKey: key("node2"), strict: true });
    assertEquals(steps.map((s) => [s.kind, "names" in s ? s.names : null, "num" in s ? s.num : null]), [[
      "ssn",
      ["node2"],
      1,
    ]]);
  });
  await t.step("strict, no candidates and none recorded: the placeholder (formatted by the executor)", () => {
    const steps = planPriority({ me: "node1", cur: cur("", [], []), syncKey: key(null), strict: true });
    const s = steps[0]!;
    assertEquals(
      s.kind === "ssn" && formatSsn(s.names, { quorum: s.quorum, num: s.num }),
      STRICT_PLACEHOLDER,
    );
    // Already the placeholder: nothing more.
    assertEquals(
      planPriority({ me: "node1", cur: cur(STRICT_PLACEHOLDER, [], []), syncKey: key(null), strict: true }),
      [],
    );
  });
});

Deno.test("strictModeStep: quorum mode keeps ANY numsync (voters)", () => {
  const r = strictModeStep({
    mode: "quorum",
    strict: true,
    cur: cur("ANY 1 (node2,node3)", [], []),
    syncKey: { leader: "node1", sync_standby: "node2,node3", quorum: 1 },
  });
  assertEquals(r.active, true);
  assertEquals(r.step, null);
});

Deno.test("pre-promote values", async (t) => {
  const key: SyncValue = { leader: "node1", sync_standby: "node2,node3", quorum: 1 };
  await t.step("priority, non-strict: take over with no standbys, SSN cleared", () => {
    assertEquals(prePromotePriority({ me: "node2", syncKey: key, strict: false }), {
      key: { leader: "node2", quorum: 0, sync_standby: null },
      ssn: null,
    });
  });
  await t.step("priority, strict: previous members minus us stay synchronous", () => {
    assertEquals(prePromotePriority({ me: "node2", syncKey: key, strict: true }), {
      key: { leader: "node2", quorum: 0, sync_standby: "node1,node3" },
      ssn: "2 (node1,node3)",
    });
    assertEquals(
      prePromotePriority({ me: "node2", syncKey: { leader: "node2", sync_standby: null }, strict: true }).ssn,
      STRICT_PLACEHOLDER,
    );
  });
  await t.step("quorum: numsync = |members| - quorum - 1 (+1 for an outsider)", () => {
    assertEquals(prePromoteQuorum({ me: "node2", syncKey: key, strict: false }), "ANY 1 (node1,node3)");
    assertEquals(prePromoteQuorum({ me: "node4", syncKey: key, strict: false }), "ANY 2 (node1,node2,node3)");
    assertEquals(
      prePromoteQuorum({
        me: "node1",
        syncKey: { leader: "node1", sync_standby: null, quorum: 0 },
        strict: false,
      }),
      null,
    );
    assertEquals(
      prePromoteQuorum({
        me: "node1",
        syncKey: { leader: "node1", sync_standby: null, quorum: 0 },
        strict: true,
      }),
      `ANY 1 (${STRICT_PLACEHOLDER})`,
    );
  });
});
