/** edit-config's pure parts: --set/--pg parsing, applying, merge patches, unified diffs and plans. */
import assert from "node:assert/strict";
import {
  applyDocument,
  applySetPairs,
  ConfigEditError,
  mergePatch,
  parseSetPairs,
  sameDocument,
} from "../../src/ctl/config_edit.ts";
import { unifiedDiff } from "../../src/ctl/diff.ts";
import { renderPlan } from "../../src/ctl/commands/edit_config.ts";
import { configPlan, patchConfig } from "../../src/api/config_routes.ts";
import { toYaml } from "../../src/ctl/output.ts";

Deno.test("--set parses dotted paths and YAML values; --pg is a postgresql.parameters shorthand", () => {
  assert.deepEqual(
    parseSetPairs(["loop_wait=5", "postgresql.use_pg_rewind=on", "slots.s1={type: physical}"], [
      " pg_stat_statements.max=10000",
      "work_mem='8MB'",
    ]),
    [
      { path: ["loop_wait"], value: 5 },
      { path: ["postgresql", "use_pg_rewind"], value: true },
      { path: ["slots", "s1"], value: { type: "physical" } },
      { path: ["postgresql", "parameters", "pg_stat_statements.max"], value: 10000 },
      { path: ["postgresql", "parameters", "work_mem"], value: "8MB" },
    ],
  );
  assert.deepEqual(parseSetPairs(["ttl=null", "x="]), [{ path: ["ttl"], value: null }, {
    path: ["x"],
    value: null,
  }]);
  assert.deepEqual(parseSetPairs(["a=b=c"]), [{ path: ["a"], value: "b=c" }]);
  assert.throws(() => parseSetPairs(["loop_wait"]), ConfigEditError);
  assert.throws(() => parseSetPairs(["a..b=1"]), /empty key/);
  assert.throws(() => parseSetPairs(["a=[1"]), /Invalid YAML value/);
});

Deno.test("applying --set pairs: create parents, replace scalars, delete with null, drop emptied objects", () => {
  const before = { ttl: 30, postgresql: { parameters: { max_connections: 100 } }, tags: "x" };
  const after = applySetPairs(
    before,
    parseSetPairs(["ttl=null", "tags.a=1", "postgresql.parameters.max_connections=null"], [
      "wal_level=logical",
    ]),
  );
  assert.deepEqual(after, { postgresql: { parameters: { wal_level: "logical" } }, tags: { a: 1 } });
  assert.deepEqual(before.postgresql.parameters, { max_connections: 100 }, "input untouched");
  assert.deepEqual(applySetPairs({ a: { b: 1 } }, parseSetPairs(["a.b=null"])), {});
});

Deno.test("--apply merges with PATCH rules; mergePatch inverts the change", () => {
  const before = {
    ttl: 30,
    loop_wait: 10,
    postgresql: { parameters: { a: "1", b: "2" } },
    slots: { s: { type: "physical" } },
  };
  const applied = applyDocument(before, {
    loop_wait: 5,
    postgresql: { parameters: { b: null, c: 3 } },
    slots: null,
  });
  assert.deepEqual(applied, { ttl: 30, loop_wait: 5, postgresql: { parameters: { a: "1", c: 3 } } });
  const patch = mergePatch(before, applied);
  assert.deepEqual(patch, { slots: null, loop_wait: 5, postgresql: { parameters: { b: null, c: 3 } } });
  assert.ok(sameDocument(patchConfig(before, patch).result, applied));
  assert.deepEqual(mergePatch(applied, applied), {});
  assert.ok(!sameDocument({ a: [1, 2] }, { a: [2, 1] }));
});

Deno.test("unified diff matches Python difflib for config edits", () => {
  const before =
    "loop_wait: 10\nmaximum_lag_on_failover: 1048576\npostgresql:\n  parameters:\n    max_connections: 100\n" +
    "  use_pg_rewind: true\nretry_timeout: 10\nttl: 30\n";
  const after =
    "loop_wait: 5\nmaximum_lag_on_failover: 1048576\npostgresql:\n  parameters:\n    max_connections: 200\n" +
    "    work_mem: 8MB\n  use_pg_rewind: true\nretry_timeout: 10\nttl: 30\n";
  assert.deepEqual(unifiedDiff(before, after), [
    "--- ",
    "+++ ",
    "@@ -1,8 +1,9 @@",
    "-loop_wait: 10",
    "+loop_wait: 5",
    " maximum_lag_on_failover: 1048576",
    " postgresql:",
    "   parameters:",
    "-    max_connections: 100",
    "+    max_connections: 200",
    "+    work_mem: 8MB",
    "   use_pg_rewind: true",
    " retry_timeout: 10",
    " ttl: 30",
  ]);
  const letters = (s: string) => s.split("").join("\n") + "\n";
  assert.deepEqual(unifiedDiff(letters("abcdefghijklm"), letters("aBcdefghijkLmn")), [
    "--- ",
    "+++ ",
    "@@ -1,5 +1,5 @@",
    " a",
    "-b",
    "+B",
    " c",
    " d",
    " e",
    "@@ -9,5 +9,6 @@",
    " i",
    " j",
    " k",
    "-l",
    "+L",
    " m",
    "+n",
  ]);
  assert.deepEqual(unifiedDiff("{}\n", "ttl: 30\n"), ["--- ", "+++ ", "@@ -1 +1 @@", "-{}", "+ttl: 30"]);
  assert.deepEqual(unifiedDiff("x: 1\ny: 2\n", "y: 2\n"), [
    "--- ",
    "+++ ",
    "@@ -1,2 +1 @@",
    "-x: 1",
    " y: 2",
  ]);
  assert.deepEqual(unifiedDiff("same\n", "same\n"), []);
});

Deno.test("unified diff round trip: applying the hunks to the old text gives the new text", () => {
  // A small seeded generator: random edits of a config-like text.
  let seed = 42;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let round = 0; round < 200; round++) {
    const a = Array.from({ length: rnd(15) + 1 }, () => `k${rnd(6)}: ${rnd(3)}`);
    const b = a.flatMap((
      l,
    ) => (rnd(4) === 0 ? [] : rnd(5) === 0 ? [l, `n${rnd(9)}: 1`] : rnd(6) === 0 ? [`${l}x`] : [l]));
    if (!b.length) b.push("z: 0");
    const diff = unifiedDiff(a.join("\n") + "\n", b.join("\n") + "\n");
    // Re-apply: walk hunks, copying unchanged lines between them.
    const out: string[] = [];
    let i = 0;
    for (const line of diff.slice(2)) {
      const h = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@$/.exec(line);
      if (h) {
        const start = Number(h[1]) - (h[2] === "0" ? 0 : 1);
        while (i < start) out.push(a[i++]!);
      } else if (line[0] === " ") {
        assert.equal(a[i], line.slice(1));
        out.push(a[i++]!);
      } else if (line[0] === "-") {
        assert.equal(a[i], line.slice(1));
        i++;
      } else out.push(line.slice(1));
    }
    while (i < a.length) out.push(a[i++]!);
    assert.deepEqual(out, b, `round ${round}`);
  }
});

Deno.test("plan rendering: changed settings, restart-only parameters, member actions", () => {
  const before = { ttl: 30, postgresql: { parameters: { max_connections: 100 } } };
  const after = {
    ttl: 20,
    loop_wait: 5,
    postgresql: { parameters: { max_connections: 200, work_mem: "8MB" } },
  };
  assert.deepEqual(renderPlan(configPlan(before, after, ["n2", "n1"])), [
    "Changes:",
    "  loop_wait: (unset) -> 5",
    "  postgresql.parameters.max_connections: 100 -> 200",
    '  postgresql.parameters.work_mem: (unset) -> "8MB"',
    "  ttl: 30 -> 20",
    "Needs a PostgreSQL restart to take effect: max_connections",
    "Members:",
    "  n1  restart",
    "  n2  restart",
  ]);
  assert.deepEqual(renderPlan(configPlan(before, { ...before, ttl: 31 }, ["node10", "n"])).slice(-3), [
    "Members:",
    "  n       reload",
    "  node10  reload",
  ]);
  assert.deepEqual(renderPlan(configPlan(before, before, ["n"])), ["No changes."]);
  assert.equal(toYaml({}), "{}\n");
});
