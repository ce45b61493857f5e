/**
 * Which dynamic configuration is in force. The DCS `config` key is the cluster-wide truth; an invalid value is
 * reported once and the last good one kept; before any DCS value exists, `bootstrap.dcs` (or the cache file
 * `<data_dir>/patroni.dynamic.json`, like Patroni) applies.
 */
import { adjustTimings, type DynamicConfig, fromPatroniDynamic } from "../config/dynamic.ts";
import type { ClusterSnapshot } from "../dcs/types.ts";
import type { Logger } from "./log.ts";

export class DynamicState {
  #current: DynamicConfig;
  #lastRaw: string | null = null;
  #badReported: string | null = null;

  constructor(initial: DynamicConfig, private readonly log: Logger) {
    this.#current = initial;
  }

  get current(): DynamicConfig {
    return this.#current;
  }

  /**
   * Adopt the cluster's config key when it changed and is valid. Returns true when it changed. `problems`
   * checks what the schema cannot (parameter values against the server): any problem rejects the whole
   * document, so a configuration is never half applied.
   */
  update(cluster: ClusterSnapshot, problems?: (d: DynamicConfig) => string[]): boolean {
    const raw = cluster.config ? JSON.stringify(cluster.config.value) : null;
    if (raw === null || raw === this.#lastRaw) return false;
    try {
      const parsed = fromPatroniDynamic(cluster.config!.value);
      const bad = problems?.(parsed) ?? [];
      if (bad.length) throw new Error(bad.join("; "));
      const t = adjustTimings(parsed);
      this.#current = { ...parsed, ...t };
      this.#lastRaw = raw;
      this.#badReported = null;
      return true;
    } catch (e) {
      if (this.#badReported !== raw) {
        this.log.error("ignoring invalid dynamic configuration in DCS key config; keeping the previous one", {
          error: e instanceof Error ? e.message : String(e),
        });
        this.#badReported = raw;
      }
      return false;
    }
  }

  /** Load the cached copy written by a previous run, if any. */
  static async readCache(path: string): Promise<DynamicConfig | null> {
    try {
      return fromPatroniDynamic(JSON.parse(await Deno.readTextFile(path)));
    } catch {
      return null;
    }
  }
}
