/**
 * `<data_dir>/patroni.dynamic.json`: the last dynamic configuration seen in the DCS, kept so a node can start
 * with the cluster's settings while the DCS is down (Patroni's cache file, same name and JSON).
 */
import { type DynamicConfig, fromPatroniDynamic, toPatroniDynamic } from "../config/dynamic.ts";

export const DYNAMIC_CACHE_FILE = "patroni.dynamic.json";

export function dynamicCachePath(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, "")}/${DYNAMIC_CACHE_FILE}`;
}

/** The cached configuration, or null when there is none or it does not validate. */
export async function readDynamicCache(dataDir: string): Promise<DynamicConfig | null> {
  try {
    return fromPatroniDynamic(JSON.parse(await Deno.readTextFile(dynamicCachePath(dataDir))));
  } catch {
    return null;
  }
}

/**
 * Write the cache atomically (temp file + rename), owned like the data directory: pg_rewind and
 * pg_basebackup run as the PostgreSQL user and must be able to replace it. False when there is no initialised
 * data directory to keep it in yet (a clone would wipe it).
 */
export async function writeDynamicCache(dataDir: string, d: DynamicConfig): Promise<boolean> {
  let dir: Deno.FileInfo;
  try {
    dir = await Deno.stat(dataDir);
    await Deno.stat(`${dataDir}/PG_VERSION`);
  } catch {
    return false;
  }
  const path = dynamicCachePath(dataDir);
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(toPatroniDynamic(d)), { mode: 0o600 });
  if (dir.uid !== null && dir.gid !== null && Deno.uid() === 0) await Deno.chown(tmp, dir.uid, dir.gid);
  await Deno.rename(tmp, path);
  return true;
}
