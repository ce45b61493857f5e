import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { decideRewind, historyFileName, parseRecordEnd, parseTimelineHistory } from "./rewind.ts";

Deno.test("parseTimelineHistory reads parent timeline, switch point and reason", () => {
  const h = parseTimelineHistory(
    "1\t0/3000158\tno recovery target specified\n\n2\t0/5000000\tat restore point\n",
  );
  assertEquals(h, [
    { parentTimeline: 1, switchLsn: 0x3000158, reason: "no recovery target specified" },
    { parentTimeline: 2, switchLsn: 0x5000000, reason: "at restore point" },
  ]);
  assertEquals(historyFileName(10), "0000000A.history");
});

const history = [{ parentTimeline: 1, switchLsn: 0x3000158, reason: "" }];

Deno.test("decideRewind compares timelines first", () => {
  assertEquals(
    decideRewind({ timeline: 3, lsn: 1, inRecovery: true }, { timeline: 2, lsn: 9, history }).need,
    true,
  );
  assertEquals(
    decideRewind({ timeline: 2, lsn: 5, inRecovery: true }, { timeline: 2, lsn: 9, history }).need,
    false,
  );
  // Same timeline number but the local former primary wrote past the primary's end: diverged.
  assertEquals(
    decideRewind({ timeline: 2, lsn: 10, inRecovery: false }, { timeline: 2, lsn: 9, history }).need,
    true,
  );
});

Deno.test("decideRewind: a replica needs rewind only if it replayed past the switch point", () => {
  const p = { timeline: 2, lsn: null, history };
  assertEquals(decideRewind({ timeline: 1, lsn: 0x3000158, inRecovery: true }, p).need, false);
  assertEquals(decideRewind({ timeline: 1, lsn: 0x3000159, inRecovery: true }, p).need, true);
});

Deno.test("decideRewind: a former primary is fine only if its shutdown checkpoint ends at the switch point", () => {
  const p = { timeline: 2, lsn: null, history };
  const local = { timeline: 1, lsn: 0x30000e0, inRecovery: false };
  assertEquals(decideRewind({ ...local, checkpointEnd: 0x3000158 }, p).need, false);
  assertEquals(decideRewind({ ...local, checkpointEnd: 0x3000100 }, p).need, true);
  assertEquals(decideRewind({ ...local, checkpointEnd: null }, p).need, true);
  assertEquals(decideRewind({ ...local, lsn: 0x3000158 }, p).need, true);
  assertEquals(decideRewind({ ...local, unclean: true }, p).need, true);
});

Deno.test("decideRewind: a timeline missing from the history means divergence", () => {
  const p = {
    timeline: 3,
    lsn: null,
    history: [{ parentTimeline: 1, switchLsn: 5, reason: "" }, {
      parentTimeline: 3,
      switchLsn: 9,
      reason: "",
    }],
  };
  assertEquals(decideRewind({ timeline: 2, lsn: 1, inRecovery: true }, p).need, true);
  assertEquals(
    decideRewind({ timeline: 1, lsn: 1, inRecovery: false }, { timeline: 2, lsn: null, history: [] }).need,
    true,
  );
});

Deno.test("parseRecordEnd reads the next record start or pg_waldump's end-of-WAL error", () => {
  assertEquals(
    parseRecordEnd(
      "rmgr: XLOG len (rec/tot): 114/114, tx: 0, lsn: 0/03000028, prev 0/03000000, desc: CHECKPOINT_SHUTDOWN\n" +
        "pg_waldump: error: error in WAL record at 0/3000028: invalid record length at 0/30000A0: wanted 24, got 0",
    ),
    0x30000a0,
  );
  assertEquals(parseRecordEnd("lsn: 0/01000028, prev 0/0 ...\nlsn: 0/010000A0, prev 0/01000028"), 0x10000a0);
  assertEquals(parseRecordEnd("nothing"), null);
});

Deno.test("decideRewind: the same timeline number reached from another switch point is a fork", () => {
  const forked = [{ parentTimeline: 1, switchLsn: 0x3000200, reason: "" }];
  // Behind the primary's end, so the position alone would look fine: only the histories tell.
  const d = decideRewind({ timeline: 2, lsn: 5, inRecovery: false, history: forked }, {
    timeline: 2,
    lsn: 9,
    history,
  });
  assertEquals(d.need, true);
  assertEquals(/forked/.test(d.reason), true);
  assertEquals(
    decideRewind({ timeline: 2, lsn: 5, inRecovery: true, history }, { timeline: 2, lsn: 9, history }).need,
    false,
    "the same branch",
  );
});
