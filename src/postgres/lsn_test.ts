import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { formatLsn, parseLsn, parseLsnOrNull, timelineFromWalFileName } from "./lsn.ts";

Deno.test("parseLsn reads both hex halves as one byte position", () => {
  assertEquals(parseLsn("0/0"), 0);
  assertEquals(parseLsn("0/3000060"), 0x3000060);
  assertEquals(parseLsn("1/0"), 4294967296);
  assertEquals(parseLsn("16/B374D848"), 0x16 * 2 ** 32 + 0xB374D848);
  assertEquals(parseLsn(" ff/a "), 255 * 2 ** 32 + 10);
});

Deno.test("parseLsn rejects malformed text", () => {
  for (const bad of ["", "0", "0/", "/0", "G/0", "0/123456789", "1/2/3"]) {
    assertThrows(() => parseLsn(bad), TypeError);
  }
});

Deno.test("parseLsnOrNull maps empty input to null", () => {
  assertEquals(parseLsnOrNull(null), null);
  assertEquals(parseLsnOrNull(undefined), null);
  assertEquals(parseLsnOrNull(""), null);
  assertEquals(parseLsnOrNull("0/10"), 16);
});

Deno.test("formatLsn is the inverse of parseLsn", () => {
  for (const s of ["0/0", "0/3000060", "1/0", "16/B374D848", "FFFFF/FFFFFFFF"]) {
    assertEquals(formatLsn(parseLsn(s)), s);
  }
  assertThrows(() => formatLsn(-1), RangeError);
  assertThrows(() => formatLsn(1.5), RangeError);
});

Deno.test("timelineFromWalFileName reads the first eight hex digits", () => {
  assertEquals(timelineFromWalFileName("000000010000000000000001"), 1);
  assertEquals(timelineFromWalFileName("0000000A0000000200000003"), 10);
  assertThrows(() => timelineFromWalFileName("00000001.history"), TypeError);
});
