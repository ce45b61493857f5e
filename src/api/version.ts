/**
 * pgwarden's version, read from deno.json so there is one source of truth. The REST API reports it where
 * Patroni reports its own (`patroni.version`, `patroni_version`, the `Server` header).
 */
import denoJson from "../../deno.json" with { type: "json" };

export const PGWARDEN_VERSION: string = denoJson.version;

/** Patroni's metric encoding: each semver part zero-padded to two digits (`4.1.4` → `040104`). */
export function paddedVersion(version: string): string {
  return version.split(".").map((p) => p.padStart(2, "0")).join("");
}
