import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { binaries, parsePostmasterPid, shellQuote } from "./pg_ctl.ts";

Deno.test("parsePostmasterPid reads pid, data dir, port, socket dir and status", () => {
  const pf = parsePostmasterPid(
    "8580\n/tmp/d\n1795316977\n55999\n/tmp/d\n127.0.0.1\n  1234  5678\nready   \n",
  );
  assertEquals(pf, {
    pid: 8580,
    dataDir: "/tmp/d",
    startEpoch: 1795316977,
    port: 55999,
    socketDir: "/tmp/d",
    status: "ready",
  });
  assertEquals(parsePostmasterPid(""), null);
  assertEquals(parsePostmasterPid("abc\n"), null);
});

Deno.test("binaries honours bin_dir and bin_name overrides", () => {
  const b = binaries("/usr/lib/postgresql/15/bin/", { pgCtl: "pg_ctl.custom", postgres: "/opt/pg/postgres" });
  assertEquals(b.pgCtl, "/usr/lib/postgresql/15/bin/pg_ctl.custom");
  assertEquals(b.postgres, "/opt/pg/postgres");
  assertEquals(b.initdb, "/usr/lib/postgresql/15/bin/initdb");
  assertEquals(binaries("").pgRewind, "pg_rewind");
});

Deno.test("shellQuote survives single quotes", () => {
  assertEquals(shellQuote("/a b/it's"), `'/a b/it'\\''s'`);
});
