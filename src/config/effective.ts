/**
 * Settings that may come from either side, resolved the way Patroni builds its effective configuration: the
 * dynamic `postgresql` section overlaid with the local one (a key set locally wins), except `use_slots`, which
 * is cluster-wide and taken from the dynamic configuration only. Protected GUCs (max_connections, ...) follow
 * the opposite rule and live in `src/postgres/config_file.ts`.
 */
import type { DynamicConfig } from "./dynamic.ts";
import type { Config } from "./schema.ts";

export interface EffectivePostgresql {
  usePgRewind: boolean;
  removeDataDirectoryOnRewindFailure: boolean;
  removeDataDirectoryOnDivergedTimelines: boolean;
  useSlots: boolean;
}

export function effectivePostgresql(config: Config, dynamic: DynamicConfig | null): EffectivePostgresql {
  const local = config.postgresql;
  const dyn = dynamic?.postgresql;
  return {
    usePgRewind: local.usePgRewind ?? dyn?.usePgRewind ?? false,
    removeDataDirectoryOnRewindFailure: local.removeDataDirectoryOnRewindFailure ??
      dyn?.removeDataDirectoryOnRewindFailure ?? false,
    removeDataDirectoryOnDivergedTimelines: local.removeDataDirectoryOnDivergedTimelines ??
      dyn?.removeDataDirectoryOnDivergedTimelines ?? false,
    useSlots: dyn?.useSlots ?? true,
  };
}
