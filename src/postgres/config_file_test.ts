import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type ConfigInput, ConfigSchema } from "../config/schema.ts";
import { type DynamicConfigInput, DynamicConfigSchema } from "../config/dynamic.ts";
import {
  applyReplicaMinimums,
  effectiveParameters,
  formatGucValue,
  hbaLines,
  localHost,
  parseListen,
  parseSizeMb,
  recoveryParameters,
  renderPostgresqlConf,
} from "./config_file.ts";

function cfg(pg: Partial<ConfigInput["postgresql"]> = {}, extra: Partial<ConfigInput> = {}) {
  return ConfigSchema.parse({
    name: "node-1",
    scope: "demo",
    memory: {},
    restapi: { listen: "127.0.0.1:8008" },
    ...extra,
    postgresql: { listen: "127.0.0.1:5432", dataDir: "/var/lib/pg/data", ...pg },
  });
}
const dyn = (d: DynamicConfigInput = {}) => DynamicConfigSchema.parse(d);

Deno.test("effectiveParameters applies Patroni's defaults and fixed settings, sorted", () => {
  const { parameters, warnings } = effectiveParameters({ config: cfg(), dynamic: null, majorVersion: 15 });
  assertEquals(warnings, []);
  assertEquals(Object.keys(parameters), Object.keys(parameters).sort());
  assertEquals(parameters.listen_addresses, "127.0.0.1");
  assertEquals(parameters.port, 5432);
  assertEquals(parameters.cluster_name, "demo");
  assertEquals(parameters.wal_level, "replica");
  assertEquals(parameters.hot_standby, "on");
  assertEquals(parameters.max_wal_senders, 10);
  assertEquals(parameters.max_replication_slots, 10);
  assertEquals(parameters.max_connections, 100);
  assertEquals(parameters.wal_log_hints, "on");
  assertEquals(parameters.wal_keep_size, "128MB");
  assertEquals(parameters.wal_keep_segments, undefined);
  assertEquals(parameters.hba_file, "/var/lib/pg/data/pg_hba.conf");
  assertEquals(parameters.ident_file, "/var/lib/pg/data/pg_ident.conf");
  assertEquals(parameters.unix_socket_directories, "/tmp");
});

Deno.test("effectiveParameters: dynamic below local, protected GUCs only from dynamic", () => {
  const { parameters, warnings } = effectiveParameters({
    config: cfg({ parameters: { work_mem: "8MB", max_connections: 500, port: 1, Shared_Buffers: "1GB" } }),
    dynamic: dyn({
      postgresql: { parameters: { work_mem: "4MB", max_connections: 200, wal_level: "logical" } },
    }),
    majorVersion: 15,
  });
  assertEquals(parameters.work_mem, "8MB");
  assertEquals(parameters.shared_buffers, "1GB");
  assertEquals(parameters.max_connections, 200);
  assertEquals(parameters.wal_level, "logical");
  assertEquals(parameters.port, 5432);
  assertEquals(warnings.length, 1);
  assert(warnings[0]!.includes("max_connections"));
});

Deno.test("effectiveParameters replaces invalid protected values with defaults", () => {
  const { parameters, warnings } = effectiveParameters({
    config: cfg(),
    dynamic: dyn({
      postgresql: {
        parameters: { max_wal_senders: 1, wal_level: "minimal", hot_standby: "off", wal_log_hints: "maybe" },
      },
    }),
    majorVersion: 15,
  });
  assertEquals(parameters.max_wal_senders, 10);
  assertEquals(parameters.wal_level, "replica");
  assertEquals(parameters.hot_standby, "on");
  assertEquals(parameters.wal_log_hints, "on");
  assertEquals(warnings.length, 3);
});

Deno.test("effectiveParameters translates wal_keep_segments by version at 16 MB per segment", () => {
  const d = dyn({ postgresql: { parameters: { wal_keep_segments: 10 } } });
  assertEquals(
    effectiveParameters({ config: cfg(), dynamic: d, majorVersion: 15 }).parameters.wal_keep_size,
    "160MB",
  );
  assertEquals(
    effectiveParameters({ config: cfg(), dynamic: d, majorVersion: 12 }).parameters.wal_keep_segments,
    10,
  );
  const s = dyn({ postgresql: { parameters: { wal_keep_size: "1GB" } } });
  assertEquals(
    effectiveParameters({ config: cfg(), dynamic: s, majorVersion: 12 }).parameters.wal_keep_segments,
    64,
  );
  assertEquals(
    effectiveParameters({ config: cfg(), dynamic: s, majorVersion: 13 }).parameters.wal_keep_size,
    "1GB",
  );
});

Deno.test("effectiveParameters forces wal_log_hints with use_pg_rewind and manages synchronous_standby_names", () => {
  const r = effectiveParameters({
    config: cfg({ usePgRewind: true }),
    dynamic: dyn({ postgresql: { parameters: { wal_log_hints: false, synchronous_standby_names: "x" } } }),
    majorVersion: 15,
    synchronousStandbyNames: null,
  });
  assertEquals(r.parameters.wal_log_hints, "on");
  assertEquals(r.parameters.synchronous_standby_names, "");
  const s = effectiveParameters({
    config: cfg(),
    dynamic: null,
    majorVersion: 15,
    synchronousStandbyNames: '"a"',
  });
  assertEquals(s.parameters.synchronous_standby_names, '"a"');
});

Deno.test("effectiveParameters keeps a user-chosen hba_file and socket directory", () => {
  const { parameters } = effectiveParameters({
    config: cfg({
      parameters: { hba_file: "/etc/hba", unix_socket_directories: "/run/pg" },
      configDir: "/etc/pg",
    }),
    dynamic: null,
    majorVersion: 15,
  });
  assertEquals(parameters.hba_file, "/etc/hba");
  assertEquals(parameters.ident_file, "/etc/pg/pg_ident.conf");
  assertEquals(parameters.unix_socket_directories, "/run/pg");
});

Deno.test("parseListen and localHost handle several hosts, wildcards and IPv6", () => {
  assertEquals(parseListen("127.0.0.1:5432"), { addresses: ["127.0.0.1"], port: 5432 });
  assertEquals(parseListen("10.0.0.1:5433,127.0.0.1:5433"), {
    addresses: ["10.0.0.1", "127.0.0.1"],
    port: 5433,
  });
  assertEquals(parseListen("[::1]:5432"), { addresses: ["::1"], port: 5432 });
  assertEquals(parseListen(":5432"), { addresses: ["*"], port: 5432 });
  assertEquals(localHost("*:5432"), "127.0.0.1");
  assertEquals(localHost("0.0.0.0:5432"), "127.0.0.1");
  assertEquals(localHost("[::]:5432"), "::1");
  assertEquals(localHost("10.1.2.3:5432,127.0.0.1:5432"), "10.1.2.3");
});

Deno.test("parseSizeMb reads PostgreSQL size units", () => {
  assertEquals(parseSizeMb("128MB"), 128);
  assertEquals(parseSizeMb("1GB"), 1024);
  assertEquals(parseSizeMb("512kB"), 0.5);
  assertEquals(parseSizeMb(64), 64);
  assertEquals(parseSizeMb("lots"), null);
});

Deno.test("formatGucValue quotes strings and leaves numbers and booleans bare", () => {
  assertEquals(formatGucValue(5), "5");
  assertEquals(formatGucValue(true), "on");
  assertEquals(formatGucValue(false), "off");
  assertEquals(formatGucValue("it's"), "'it''s'");
  assertEquals(formatGucValue("a\\b"), "'a\\\\b'");
});

Deno.test("recoveryParameters builds primary_conninfo with a pass file and application_name", () => {
  const config = cfg({
    authentication: {
      replication: { username: "repl", password: "s3cret" },
      superuser: { username: "postgres" },
    },
  });
  const r = recoveryParameters({
    config,
    dynamic: null,
    upstream: { host: "10.0.0.2", port: 5433, slot: "node_1" },
    passfile: "/var/lib/pg/data.pgpass",
  });
  assertEquals(
    r.primary_conninfo,
    "user=repl passfile=/var/lib/pg/data.pgpass host=10.0.0.2 port=5433 sslmode=prefer application_name=node-1",
  );
  assertEquals(r.primary_slot_name, "node_1");
  assertEquals(r.recovery_target_timeline, "latest");
  assertEquals(r.restore_command, undefined);
});

Deno.test("recoveryParameters: inline password without pass file; restore_command; archive-only", () => {
  const config = cfg({
    authentication: { replication: { username: "repl", password: "a b'c" } },
    recoveryConf: { recovery_min_apply_delay: "5min" },
  });
  const r = recoveryParameters({
    config,
    dynamic: dyn({
      postgresql: { recoveryConf: { restore_command: "cp /a/%f %p", recovery_min_apply_delay: "1s" } },
    }),
    upstream: { host: "h", port: 1, restoreCommand: "fetch %f %p" },
    passfile: null,
  });
  assertEquals(
    r.primary_conninfo,
    "user=repl password='a b\\'c' host=h port=1 sslmode=prefer application_name=node-1",
  );
  assertEquals(r.restore_command, "fetch %f %p");
  assertEquals(r.recovery_min_apply_delay, "5min");
  const a = recoveryParameters({ config, dynamic: null, upstream: null, passfile: null });
  assertEquals(a.primary_conninfo, undefined);
  assertEquals(a.recovery_target_timeline, "latest");
});

Deno.test("renderPostgresqlConf includes the base file first, then parameters, then recovery", () => {
  const text = renderPostgresqlConf({
    include: "postgresql.base.conf",
    parameters: { a: 1, b: "x" },
    recovery: { primary_conninfo: "host=h" },
  });
  const lines = text.split("\n").filter((l) => l && !l.startsWith("#"));
  assertEquals(lines, ["include 'postgresql.base.conf'", "a = 1", "b = 'x'", "primary_conninfo = 'host=h'"]);
  assert(!renderPostgresqlConf({ include: "b", parameters: {}, recovery: null }).includes("recovery"));
});

Deno.test("hbaLines prefers local pg_hba over the dynamic one", () => {
  assertEquals(hbaLines(cfg(), null), null);
  assertEquals(hbaLines(cfg(), dyn({ postgresql: { pgHba: ["host all all 0.0.0.0/0 md5"] } })), [
    "host all all 0.0.0.0/0 md5",
  ]);
  assertEquals(hbaLines(cfg({ pgHba: ["local all all trust"] }), dyn({ postgresql: { pgHba: ["x"] } })), [
    "local all all trust",
  ]);
});

Deno.test("applyReplicaMinimums raises hot-standby-critical settings to pg_control's values", () => {
  const { parameters, raised } = applyReplicaMinimums(
    { max_connections: 100, max_wal_senders: 10, max_locks_per_transaction: 64, work_mem: "4MB" },
    { max_connections: 200, max_wal_senders: 5, max_locks_per_xact: 64, max_prepared_xacts: 10 },
  );
  assertEquals(parameters, {
    max_connections: 200,
    max_wal_senders: 10,
    max_locks_per_transaction: 64,
    max_prepared_transactions: 10,
    work_mem: "4MB",
  });
  assertEquals(raised, ["max_connections from 100 to 200", "max_prepared_transactions from undefined to 10"]);
});
