/**
 * `pgbackrest`: a custom bootstrap method (restore a new cluster from a pgBackRest repository, optionally to a
 * point in time) and a replica creation method (standby restore with `--delta`, no running leader needed).
 * The worker may run exactly the pgbackrest executable.
 *
 * @example
 * ```ts ignore
 * plugins: [pgbackrest({ stanza: "main", bootstrap: { type: "time", target: "2025-01-01 00:00:00+00" } })]
 * // bootstrap.method: "pgbackrest"; postgresql.createReplicaMethods: ["pgbackrest", "basebackup"]
 * ```
 */
import { z } from "zod";
import { resolveExecutable } from "../../src/plugins/exec.ts";
import { definePlugin, pluginFactory } from "../../src/plugins/types.ts";

export const PgBackRestConfigSchema = z.strictObject({
  stanza: z.string().min(1),
  executable: z.string().min(1).default("pgbackrest"),
  /** `--config=`; default pgBackRest's own (/etc/pgbackrest/pgbackrest.conf). */
  configFile: z.string().optional(),
  /** Further global options, passed as `--<key>=<value>` (e.g. `repo1-path`, `process-max`). */
  options: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  bootstrap: z.strictObject({
    /** Recovery target type: `time`, `xid`, `lsn`, `name`, `immediate`, `default`. */
    type: z.enum(["default", "immediate", "time", "xid", "lsn", "name"]).optional(),
    target: z.string().optional(),
    targetAction: z.enum(["pause", "promote", "shutdown"]).optional(),
    /** Backup set to restore; default the latest. */
    set: z.string().optional(),
    extraArgs: z.array(z.string()).default([]),
  }).prefault({}),
  replica: z.strictObject({ extraArgs: z.array(z.string()).default([]) }).prefault({}),
  /** Run pgbackrest as this OS user (when the agent runs as root). */
  user: z.strictObject({ uid: z.number().int(), gid: z.number().int() }).optional(),
});
export type PgBackRestConfig = z.output<typeof PgBackRestConfigSchema>;

export const plugin = definePlugin({
  name: "pgbackrest",
  version: "1.0.0",
  configSchema: PgBackRestConfigSchema,
  permissions: (c) => ({ run: [resolveExecutable(c.executable)] }),
  module: new URL("./worker.ts", import.meta.url),
  hooks: ["bootstrap", "createReplica"],
  // A standby restore needs no leader and works on an existing data directory (--delta); a bootstrap restore
  // replays the archive through the restore_command pgBackRest writes, so those settings must stay.
  methodTraits: () => ({ keepData: true, noLeader: true, keepExistingRecoveryConf: true }),
});
export default plugin;

export const pgbackrest = pluginFactory(plugin);
