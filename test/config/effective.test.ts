/**
 * Local vs dynamic precedence as Patroni builds its effective configuration, and the standby cluster's
 * recovery settings.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { standbySource } from "../../src/agent/ha_agent.ts";
import { fromPatroniDynamic } from "../../src/config/dynamic.ts";
import { effectivePostgresql } from "../../src/config/effective.ts";
import { type ConfigInput, ConfigSchema } from "../../src/config/schema.ts";
import { effectiveParameters, recoveryParameters } from "../../src/postgres/config_file.ts";

function cfg(pg: Partial<ConfigInput["postgresql"]> = {}) {
  return ConfigSchema.parse({
    name: "node1",
    scope: "demo",
    memory: {},
    restapi: { listen: "127.0.0.1:8008" },
    postgresql: { listen: "127.0.0.1:5432", dataDir: "/var/lib/pg/data", ...pg },
  });
}

Deno.test("effective postgresql: a local key wins when set, else the dynamic one; use_slots is cluster-wide", () => {
  const d = fromPatroniDynamic({
    postgresql: { use_pg_rewind: true, use_slots: false, remove_data_directory_on_rewind_failure: true },
  });
  assertEquals(effectivePostgresql(cfg(), d), {
    usePgRewind: true,
    removeDataDirectoryOnRewindFailure: true,
    removeDataDirectoryOnDivergedTimelines: false,
    useSlots: false,
  });
  assertEquals(
    effectivePostgresql(
      cfg({ usePgRewind: false, useSlots: true, removeDataDirectoryOnDivergedTimelines: true }),
      d,
    ),
    {
      usePgRewind: false,
      removeDataDirectoryOnRewindFailure: true,
      removeDataDirectoryOnDivergedTimelines: true,
      useSlots: false,
    },
  );
  assertEquals(effectivePostgresql(cfg(), null).usePgRewind, false);
});

Deno.test("effective parameters: cluster-wide GUCs come from the DCS, others from local over dynamic", () => {
  const d = fromPatroniDynamic({
    postgresql: {
      parameters: { max_connections: 60, max_wal_senders: 7, work_mem: "4MB", wal_keep_segments: 4 },
    },
  });
  const { parameters, warnings } = effectiveParameters({
    config: cfg({ parameters: { max_connections: 500, max_wal_senders: 20, work_mem: "16MB" } }),
    dynamic: d,
    majorVersion: 15,
  });
  assertEquals([parameters.max_connections, parameters.max_wal_senders], [60, 7]);
  assertEquals(parameters.work_mem, "16MB");
  assertEquals(parameters.wal_keep_size, "64MB");
  assertEquals(warnings.length, 2);
});

Deno.test("standby cluster recovery: remote conninfo, slot, restore/cleanup commands, apply delay", () => {
  const d = fromPatroniDynamic({
    standby_cluster: {
      host: "10.0.0.1,10.0.0.2",
      port: 5433,
      primary_slot_name: "standby_b",
      restore_command: "cp /archive/%f %p",
      archive_cleanup_command: "pg_archivecleanup /archive %r",
      recovery_min_apply_delay: "5min",
    },
  });
  const src = standbySource(d)!;
  const rec = recoveryParameters({ config: cfg(), dynamic: d, upstream: src, passfile: "/pgpass" });
  assertEquals(rec.primary_slot_name, "standby_b");
  assertEquals(rec.restore_command, "cp /archive/%f %p");
  assertEquals(rec.archive_cleanup_command, "pg_archivecleanup /archive %r");
  assertEquals(rec.recovery_min_apply_delay, "5min");
  const ci = String(rec.primary_conninfo);
  for (const part of ["host=10.0.0.1,10.0.0.2", "port=5433", "target_session_attrs=read-write"]) {
    assertEquals(ci.includes(part), true, ci);
  }
  // Only a restore_command: archive recovery, no streaming at all.
  const archiveOnly = standbySource(
    fromPatroniDynamic({ standby_cluster: { restore_command: "cp %f %p" } }),
  )!;
  const r2 = recoveryParameters({ config: cfg(), dynamic: null, upstream: archiveOnly, passfile: null });
  assertEquals([r2.primary_conninfo, r2.restore_command], [undefined, "cp %f %p"]);
  assertEquals(standbySource(fromPatroniDynamic({})), null);
});
