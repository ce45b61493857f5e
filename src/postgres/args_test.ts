import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { ConfigSchema } from "../config/schema.ts";
import { initdbArgs, roleStatements } from "./bootstrap.ts";
import { basebackupArgs, commandMethodArgs } from "./replica.ts";
import { PgStateError } from "./errors.ts";

const cfg = (extra: Record<string, unknown> = {}, auth: Record<string, unknown> = {}) =>
  ConfigSchema.parse({
    name: "n1",
    scope: "s",
    memory: {},
    restapi: { listen: "127.0.0.1:8008" },
    postgresql: { listen: "127.0.0.1:5432", dataDir: "/d", authentication: auth },
    ...extra,
  });

Deno.test("initdbArgs renders bootstrap.initdb options and rejects reserved ones", () => {
  const c = cfg({ bootstrap: { initdb: [{ encoding: "UTF8" }, "data-checksums", { "locale": "C" }] } });
  assertEquals(initdbArgs("/d", c, "/tmp/pw"), [
    "-D",
    "/d",
    "--username=postgres",
    "--pwfile=/tmp/pw",
    "--encoding=UTF8",
    "--data-checksums",
    "--locale=C",
  ]);
  assertThrows(() => initdbArgs("/d", cfg({ bootstrap: { initdb: ["nosync"] } }), null), PgStateError);
  assertThrows(
    () => initdbArgs("/d", cfg({ bootstrap: { initdb: [{ pgdata: "/x" }] } }), null),
    PgStateError,
  );
});

Deno.test("roleStatements creates the replication and rewind roles with Patroni's grants", () => {
  const c = cfg({}, {
    superuser: { username: "postgres", password: "su'pw" },
    replication: { username: "repl", password: "rp" },
    rewind: { username: "rewinder", password: "rw" },
  });
  const s = roleStatements(c, new Set(["postgres"]));
  assertEquals(s.slice(0, 3), [
    `ALTER ROLE "postgres" WITH SUPERUSER LOGIN PASSWORD 'su''pw'`,
    `CREATE ROLE "repl" WITH REPLICATION LOGIN PASSWORD 'rp'`,
    `CREATE ROLE "rewinder" WITH LOGIN PASSWORD 'rw'`,
  ]);
  assertEquals(s.length, 7);
  assertEquals(s.every((x, i) => i < 3 || x.startsWith("GRANT EXECUTE ON FUNCTION pg_catalog.pg_")), true);
  // Replication user equal to the superuser: nothing extra.
  const same = cfg({}, { superuser: { username: "postgres" }, replication: { username: "postgres" } });
  assertEquals(roleStatements(same, new Set()), []);
});

Deno.test("basebackupArgs accepts map and list forms; compress only server-side on 15+", () => {
  assertEquals(basebackupArgs({ verbose: true, "max-rate": "100M", checkpoint: "fast" }, 15), [
    "--verbose",
    "--max-rate=100M",
    "--checkpoint=fast",
  ]);
  assertEquals(basebackupArgs(["verbose", { "max-rate": "1M" }, { compress: "server-gzip" }], 15), [
    "--verbose",
    "--max-rate=1M",
    "--compress=server-gzip",
  ]);
  assertThrows(() => basebackupArgs({ compress: "gzip" }, 15), TypeError);
  assertThrows(() => basebackupArgs({ compress: "server-gzip" }, 14), TypeError);
  assertThrows(() => basebackupArgs(["pgdata"], 15), PgStateError);
  assertEquals(basebackupArgs(undefined, 15), []);
});

Deno.test("commandMethodArgs passes Patroni's arguments unless no_params", () => {
  const ctx = { scope: "s", dataDir: "/d", connUrl: "postgres://r@h:5432/postgres" };
  assertEquals(commandMethodArgs({ command: "restore --x 'a b'", keepData: true, thresholdMb: 10 }, ctx), [
    "restore",
    "--x",
    "a b",
    "--threshold_mb=10",
    "--scope=s",
    "--role=replica",
    "--datadir=/d",
    "--connstring=postgres://r@h:5432/postgres",
    "--keep_data=True",
  ]);
  assertEquals(commandMethodArgs({ command: "r", noParams: true, keepData: true, stanza: "main" }, ctx), [
    "r",
    "--stanza=main",
  ]);
  assertEquals(commandMethodArgs({ command: "r", noLeader: true }, { ...ctx, connUrl: null }).slice(-2), [
    "--connstring=",
    "--no_leader=True",
  ]);
});
