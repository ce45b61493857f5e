import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { isConnectionError, parseObservedRow, quoteIdent, quoteLiteral } from "./queries.ts";
import { PgUnreachableError } from "./errors.ts";

Deno.test("parseObservedRow: primary", () => {
  const r = parseObservedRow({
    in_recovery: false,
    server_version: 150004,
    postmaster_start_time: "2026-01-01 00:00:00+00",
    flush_lsn: "0/3000060",
    primary_timeline: 2,
    checkpoint_timeline: 1,
    receive_lsn: null,
    replay_lsn: null,
    replay_paused: false,
    receiver_status: null,
    primary_conninfo: "",
  });
  assertEquals([r.inRecovery, r.timeline, r.flushLsn, r.upstream, r.serverVersion], [
    false,
    2,
    0x3000060,
    null,
    150004,
  ]);
});

Deno.test("parseObservedRow: replica takes the receiver's timeline and sender, else primary_conninfo", () => {
  const base = {
    in_recovery: true,
    server_version: 150004,
    flush_lsn: null,
    primary_timeline: null,
    checkpoint_timeline: 1,
    receive_lsn: "0/5000000",
    replay_lsn: "0/4000000",
    replay_paused: true,
    primary_conninfo: "user=r host=10.0.0.9 port=6000",
  };
  const s = parseObservedRow({
    ...base,
    receiver_status: "streaming",
    received_tli: 3,
    sender_host: "h",
    sender_port: 5,
  });
  assertEquals([s.timeline, s.upstream, s.receiverStatus, s.replayPaused], [3, "h:5", "streaming", true]);
  const a = parseObservedRow({ ...base, receiver_status: null, received_tli: null });
  assertEquals([a.timeline, a.upstream, a.receiveLsn, a.replayLsn], [
    1,
    "10.0.0.9:6000",
    0x5000000,
    0x4000000,
  ]);
});

Deno.test("isConnectionError separates connection failures from SQL errors", () => {
  assertEquals(isConnectionError(new PgUnreachableError("x")), true);
  assertEquals(isConnectionError(Object.assign(new Error("refused"), { code: "ECONNREFUSED" })), true);
  assertEquals(isConnectionError(Object.assign(new Error("shutdown"), { code: "57P01" })), true);
  assertEquals(isConnectionError(Object.assign(new Error("closed"), { code: "CONNECTION_CLOSED" })), true);
  assertEquals(isConnectionError(Object.assign(new Error("syntax"), { code: "42601" })), false);
});

Deno.test("quoteIdent and quoteLiteral escape quotes and backslashes", () => {
  assertEquals(quoteIdent('a"b'), '"a""b"');
  assertEquals(quoteLiteral("it's"), "'it''s'");
  assertEquals(quoteLiteral("a\\'b"), "E'a\\\\''b'");
});
