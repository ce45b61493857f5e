import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { localWalEnd, parseControlData } from "./controldata.ts";

const SAMPLE = `pg_control version number:            1300
Database system identifier:           7710827700997423483
Database cluster state:               shut down in recovery
Latest checkpoint location:           0/3000060
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's TimeLineID:       1
Minimum recovery ending location:     0/5000100
Min recovery ending loc's timeline:   2
wal_log_hints setting:                on
max_connections setting:              100
max_wal_senders setting:              10
Data page checksum version:           0
`;

Deno.test("parseControlData reads identity, state, positions and settings", () => {
  const cd = parseControlData(SAMPLE);
  assertEquals(cd.sysid, "7710827700997423483");
  assertEquals(cd.state, "shut down in recovery");
  assertEquals(cd.checkpointLsn, 0x3000060);
  assertEquals(cd.checkpointRedoLsn, 0x3000028);
  assertEquals(cd.checkpointTimeline, 1);
  assertEquals(cd.minRecoveryLsn, 0x5000100);
  assertEquals(cd.minRecoveryTimeline, 2);
  assertEquals(cd.walLogHints, true);
  assertEquals(cd.dataChecksums, false);
  // Only numeric "<guc> setting" lines (wal_log_hints is on/off and has its own field).
  assertEquals(cd.settings, { max_connections: 100, max_wal_senders: 10 });
});

Deno.test("localWalEnd uses the minimum recovery point of a stopped replica, else the checkpoint", () => {
  assertEquals(localWalEnd(parseControlData(SAMPLE)), { timeline: 2, lsn: 0x5000100 });
  const primary = parseControlData(SAMPLE.replace("shut down in recovery", "shut down"));
  assertEquals(localWalEnd(primary), { timeline: 1, lsn: 0x3000060 });
  assertEquals(localWalEnd(parseControlData("")), null);
});
