/**
 * Dynamic (cluster-wide) configuration: `bootstrap.dcs` locally and the DCS `config` key on the wire.
 * In memory it is camelCase like the rest of the model; `toPatroniDynamic`/`fromPatroniDynamic` convert to
 * and from Patroni's snake_case JSON (see `case.ts`). Unknown keys are kept so a value written by Patroni
 * survives a round trip through pgwarden.
 */
import { z } from "zod";
import { keysToCamel, keysToSnake } from "./case.ts";

/** pgwarden allows shorter timings than Patroni's minimums (ttl 20, retry_timeout 3) for fast failover. */
export const MIN_TTL_S = 4;

const SynchronousMode = z.union([z.boolean(), z.enum(["on", "off", "quorum", "true", "false"])])
  .transform((v): "on" | "off" | "quorum" =>
    v === true || v === "on" || v === "true" ? "on" : v === "quorum" ? "quorum" : "off"
  );

export const StandbyClusterSchema = z.looseObject({
  host: z.string().optional(),
  port: z.union([z.number().int(), z.string()]).optional(),
  primarySlotName: z.string().optional(),
  restoreCommand: z.string().optional(),
  archiveCleanupCommand: z.string().optional(),
  recoveryMinApplyDelay: z.union([z.string(), z.number()]).optional(),
  createReplicaMethods: z.array(z.string()).optional(),
});

export const SlotSchema = z.looseObject({
  type: z.enum(["physical", "logical"]).default("physical"),
  database: z.string().optional(),
  plugin: z.string().optional(),
  clusterType: z.enum(["primary", "standby"]).optional(),
});

const DynamicObject = z.looseObject({
  ttl: z.number().int().min(MIN_TTL_S).default(30),
  loopWait: z.number().int().min(1).default(10),
  retryTimeout: z.number().int().min(1).default(10),
  maximumLagOnFailover: z.number().int().min(0).default(1048576),
  maximumLagOnSyncnode: z.number().int().default(-1),
  maxTimelinesHistory: z.number().int().min(0).default(0),
  primaryStartTimeout: z.number().min(0).optional(),
  masterStartTimeout: z.number().min(0).optional(),
  primaryStopTimeout: z.number().min(0).default(0),
  primaryRaceBackoff: z.number().min(0).optional(),
  synchronousMode: SynchronousMode.default("off"),
  synchronousModeStrict: z.boolean().default(false),
  synchronousNodeCount: z.number().int().min(1).default(1),
  failsafeMode: z.boolean().default(false),
  checkTimeline: z.boolean().default(false),
  pause: z.boolean().default(false),
  memberSlotsTtl: z.number().int().min(0).default(1800),
  postgresql: z.looseObject({
    useSlots: z.boolean().default(true),
    usePgRewind: z.boolean().optional(),
    removeDataDirectoryOnRewindFailure: z.boolean().optional(),
    removeDataDirectoryOnDivergedTimelines: z.boolean().optional(),
    parameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    pgHba: z.array(z.string()).optional(),
    recoveryConf: z.record(z.string(), z.unknown()).optional(),
  }).prefault({}),
  slots: z.record(z.string(), SlotSchema).nullish(),
  ignoreSlots: z.array(z.looseObject({
    name: z.string().optional(),
    type: z.string().optional(),
    database: z.string().optional(),
    plugin: z.string().optional(),
  })).nullish(),
  standbyCluster: StandbyClusterSchema.nullish(),
});

/** The keys the dynamic config knows (camelCase); local `bootstrap.dcs` rejects others. */
export const DYNAMIC_KEYS: readonly string[] = Object.keys(DynamicObject.shape);

export const DynamicConfigSchema = DynamicObject.superRefine((d, ctx) => {
  if (d.loopWait + 2 * d.retryTimeout > d.ttl) {
    ctx.addIssue({
      code: "custom",
      path: ["ttl"],
      message: `expected loop_wait + 2*retry_timeout <= ttl, got ${d.loopWait} + 2*${d.retryTimeout} = ` +
        `${d.loopWait + 2 * d.retryTimeout} > ${d.ttl}`,
    });
  }
}).transform((d) => ({
  ...d,
  // Patroni accepts master_start_timeout as the legacy alias; primary_start_timeout wins.
  primaryStartTimeout: d.primaryStartTimeout ?? d.masterStartTimeout ?? 300,
}));

export type DynamicConfigInput = z.input<typeof DynamicConfigSchema>;
export type DynamicConfig = z.output<typeof DynamicConfigSchema>;

/** Paths whose map keys are names (GUCs, slot names) and must never be case-converted. */
export const DYNAMIC_OPAQUE_KEYS = [
  "postgresql.parameters",
  "postgresql.recoveryConf",
  "postgresql.recovery_conf",
];
export const DYNAMIC_NAME_MAPS = ["slots"];

/** Patroni wire JSON (snake_case) → validated dynamic config. Throws a ZodError on invalid input. */
export function fromPatroniDynamic(json: unknown): DynamicConfig {
  return DynamicConfigSchema.parse(
    keysToCamel(json, { opaque: DYNAMIC_OPAQUE_KEYS, nameMaps: DYNAMIC_NAME_MAPS }),
  );
}

/** Validated (or input) dynamic config → Patroni wire JSON (snake_case). */
export function toPatroniDynamic(d: DynamicConfigInput | DynamicConfig): Record<string, unknown> {
  const { primaryStartTimeout, masterStartTimeout: _legacy, ...rest } = d as DynamicConfig & {
    masterStartTimeout?: number;
  };
  const out = { ...rest, ...(primaryStartTimeout !== undefined ? { primaryStartTimeout } : {}) };
  return keysToSnake(out, { opaque: DYNAMIC_OPAQUE_KEYS, nameMaps: DYNAMIC_NAME_MAPS }) as Record<
    string,
    unknown
  >;
}

/**
 * Patroni ≥ 3.2 adjusts inconsistent timings found in the DCS instead of refusing them: keep running with
 * safe values. Used for values read from the DCS (local config is rejected instead).
 */
export function adjustTimings(t: { ttl: number; loopWait: number; retryTimeout: number }) {
  let { ttl, loopWait, retryTimeout } = t;
  ttl = Math.max(ttl, MIN_TTL_S);
  if (1 + 2 * retryTimeout > ttl) {
    loopWait = 1;
    retryTimeout = Math.floor((ttl - 1) / 2);
  } else if (loopWait + 2 * retryTimeout > ttl) {
    loopWait = ttl - 2 * retryTimeout;
  }
  return { ttl, loopWait, retryTimeout };
}
