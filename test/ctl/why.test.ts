/** `why` rendering and the small parsers of the ctl: schedules, DCS URLs. */
import assert from "node:assert/strict";
import { describeCandidate, renderWhy } from "../../src/ctl/commands/why.ts";
import { parseScheduled } from "../../src/ctl/schedule.ts";
import { parseDcsUrl } from "../../src/ctl/settings.ts";
import { formatPgVersion } from "../../src/ctl/commands/version.ts";
import { reinitProgress } from "../../src/ctl/commands/reinit.ts";
import { restartBody } from "../../src/ctl/commands/restart.ts";

Deno.test("why: decisions, candidate verdicts in plain words, members without an answer", () => {
  const lines = renderWhy([
    {
      name: "n1",
      role: "Leader",
      explain: {
        at: "2030-01-01T00:00:00.000Z",
        code: "lock_renewed",
        message: "no action. I am (n1), the leader with the lock",
        action: "lead",
        details: { type: "lead", promote: false, standbyLeader: false, cleanFailover: null },
        candidates: [],
      },
    },
    {
      name: "n2",
      role: "Replica",
      explain: {
        at: "2030-01-01T00:00:01.000Z",
        code: "not_healthiest_behind",
        message: "following a different leader because i am not the healthiest node",
        action: "follow",
        details: { type: "follow", upstream: null, leaderName: null },
        candidates: [
          {
            name: "n2",
            eligible: false,
            rule: "behind",
            detail: "another member is ahead of me",
            lsn: 0x3000060,
          },
          { name: "n3", eligible: true, lsn: 0x1_0000_0000, detail: "ahead of me by 10 bytes" },
          { name: "n4", eligible: false, rule: "unreachable", detail: "did not answer GET /patroni" },
          { name: "n5", eligible: true, rule: "primary_alive", detail: "still running as primary" },
          { name: "n6", eligible: false, rule: "nofailover", detail: "nofailover" },
        ],
      },
    },
    { name: "n7", error: "n7 (http://127.0.0.1:8010/explain): Connection refused" },
  ]);
  assert.deepEqual(lines, [
    "n1 (Leader): no action. I am (n1), the leader with the lock",
    "  reason: lock_renewed; action: lead; decided at 2030-01-01T00:00:00.000Z",
    "n2 (Replica): following a different leader because i am not the healthiest node",
    "  reason: not_healthiest_behind; action: follow; decided at 2030-01-01T00:00:01.000Z",
    "  candidates considered:",
    "    n2: ruled out, is behind another member (WAL position 0/3000060): another member is ahead of me",
    "    n3: could take over (WAL position 1/0): ahead of me by 10 bytes",
    "    n4: ruled out, did not answer: did not answer GET /patroni",
    "    n5: could take over, but a primary is still running: still running as primary",
    "    n6: ruled out, is tagged nofailover", // a detail that repeats the rule is not printed twice
    "n7: no decision available: n7 (http://127.0.0.1:8010/explain): Connection refused",
  ]);
  assert.equal(describeCandidate({ name: "x", eligible: false }), "x: ruled out, not eligible");
});

Deno.test("--scheduled: now, zones, local time, garbage", () => {
  assert.equal(parseScheduled(undefined), null);
  assert.equal(parseScheduled("now"), null);
  assert.equal(parseScheduled("2030-01-02T03:04+02:00"), "2030-01-02T03:04:00+02:00");
  assert.equal(parseScheduled("2030-01-02 03:04:05Z"), "2030-01-02T03:04:05+00:00");
  assert.equal(parseScheduled("2030-01-02T03:04:05.5-0130"), "2030-01-02T03:04:05.500000-01:30");
  const local = parseScheduled("2030-06-15T10:00")!;
  assert.equal(
    new Date(local).getTime(),
    new Date(2030, 5, 15, 10, 0).getTime(),
    "a time without zone is local",
  );
  assert.match(local, /^2030-06-15T10:00:00[+-]\d\d:\d\d$/);
  assert.throws(() => parseScheduled("tomorrow"), /Unable to parse scheduled timestamp \(tomorrow\)/);
  assert.throws(() => parseScheduled("2030-02-30T10:00Z"), /Unable to parse/);
});

Deno.test("--dcs-url: schemes, ports, namespaces", () => {
  assert.deepEqual(parseDcsUrl("etcd3://10.0.0.1:2379"), {
    section: "etcd3",
    value: { hosts: ["10.0.0.1:2379"] },
  });
  assert.deepEqual(parseDcsUrl("10.0.0.1:8500/ns"), {
    section: "consul",
    value: { host: "10.0.0.1:8500" },
    namespace: "/ns",
  });
  assert.deepEqual(parseDcsUrl("zookeeper://zk"), { section: "zookeeper", value: { hosts: ["zk:2181"] } });
  assert.deepEqual(parseDcsUrl("etcd://h"), { section: "etcd3", value: { hosts: ["h:2379"] } });
  assert.deepEqual(parseDcsUrl("127.0.0.1"), { section: "etcd3", value: { hosts: ["127.0.0.1:2379"] } });
  assert.deepEqual(parseDcsUrl("memory://t1"), { section: "memory", value: { id: "t1" } });
  assert.throws(() => parseDcsUrl("exhibitor://h:8181"), /Unknown dcs scheme: exhibitor/);
});

Deno.test("version, reinit progress and restart body helpers", () => {
  assert.equal(formatPgVersion(150004), "15.4");
  assert.equal(formatPgVersion(90624), "9.6.24");
  assert.equal(reinitProgress({ state: "running", postmaster_start_time: "a" }, "a"), "waiting");
  assert.equal(reinitProgress({ state: "creating replica" }, "a"), "waiting");
  assert.equal(reinitProgress({ state: "running", postmaster_start_time: "b" }, "a"), "done");
  assert.equal(reinitProgress({ state: "start failed" }, "a"), "failed");
  assert.equal(reinitProgress(null, "a"), "waiting");
  assert.deepEqual(
    restartBody({
      pending: true,
      pgVersion: "15.4",
      scheduledAt: "2030-01-01T00:00:00+00:00",
      timeout: "30s",
    }),
    {
      restart_pending: true,
      postgres_version: "15.4",
      schedule: "2030-01-01T00:00:00+00:00",
      timeout: "30s",
    },
  );
  assert.throws(() => restartBody({ pgVersion: "fifteen" }), /Invalid PostgreSQL version/);
});
