/**
 * Custom bootstrap (Patroni `bootstrap.method: <name>`): a method (a plugin, or a `bootstrap.<name>` section
 * run through the `command` plugin) fills the empty data directory, typically by restoring a backup; the
 * manager then takes it over as a new cluster. This module holds the method registry and the pieces of the
 * after-steps that do not need a server: recovery settings and the wait for the end of recovery.
 */
import type { Clock } from "../util/clock.ts";
import type { GucMap } from "./config_file.ts";
import type { OsUser } from "./os_user.ts";
import type { LogFn } from "./replica.ts";

export interface BootstrapContext {
  dataDir: string;
  scope: string;
  /** The PostgreSQL OS user: tools that write the data directory must run as it when the agent is root. */
  user: OsUser;
  /** PGPASSFILE and the like. */
  env: Record<string, string>;
  log: LogFn;
}

export interface BootstrapMethod {
  readonly name: string;
  /** Keep the recovery settings and signal files the method left (pgBackRest, Barman restores). */
  readonly keepExistingRecoveryConf?: boolean;
  /** Recovery settings to start with instead (Patroni's `recovery_conf` of the method section). */
  readonly recoveryConf?: Record<string, unknown>;
  /** true when the data directory now holds a cluster. */
  run(ctx: BootstrapContext): Promise<boolean>;
}

export class BootstrapMethodRegistry {
  #methods = new Map<string, BootstrapMethod>();
  register(m: BootstrapMethod): void {
    this.#methods.set(m.name, m);
  }
  get(name: string): BootstrapMethod | undefined {
    return this.#methods.get(name);
  }
  names(): string[] {
    return [...this.#methods.keys()];
  }
}

/** How the server is to start after the method: which signal file, and which recovery settings we render. */
export interface RecoveryPlan {
  /** Leave `postgresql.auto.conf` and the signal files exactly as the method wrote them. */
  keepExisting: boolean;
  /** Settings rendered into postgresql.conf (null: none of ours). */
  settings: GucMap | null;
  /** Signal file to write with `settings`. */
  signal: "standby" | "recovery" | null;
}

/** Patroni's rule: `recovery_conf` wins, else `keep_existing_recovery_conf`, else recovery settings go. Pure. */
export function recoveryPlan(method: Pick<BootstrapMethod, "keepExistingRecoveryConf" | "recoveryConf">) {
  if (method.recoveryConf) {
    const settings: GucMap = {};
    let standby = false;
    for (const [k, v] of Object.entries(method.recoveryConf)) {
      const key = k.toLowerCase();
      if (key === "standby_mode") {
        standby = v === true || /^(on|true|yes|1)$/i.test(String(v));
        continue;
      }
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") settings[key] = v;
    }
    return { keepExisting: false, settings, signal: standby ? "standby" : "recovery" } satisfies RecoveryPlan;
  }
  return {
    keepExisting: method.keepExistingRecoveryConf === true,
    settings: null,
    signal: null,
  } satisfies RecoveryPlan;
}

/**
 * Files a restored data directory may carry from its source that must not take effect here: a promote
 * trigger (the server would promote before replaying what it should) and the source agent's dynamic config
 * cache. (A stale postmaster.pid is PostgreSQL's own business: it checks the pid.)
 */
export const STRAY_FILES = ["promote", "fallback_promote", "patroni.dynamic.json"] as const;

/** What `awaitEndOfRecovery` sees in one probe. */
export interface RecoveryProbe {
  inRecovery: boolean;
  /** Replay paused (a recovery target reached with `recovery_target_action = pause`, or paused by hand). */
  paused: boolean;
  /** Last replayed LSN in bytes. */
  replayLsn: number | null;
}

export interface RecoveryWaitDeps {
  /** null while the server does not answer yet (starting up, not consistent). */
  probe(): Promise<RecoveryProbe | null>;
  /** Is the postmaster still alive? */
  alive(): Promise<boolean>;
  promote(): Promise<void>;
  /** `standby.signal` present: recovery never ends by itself. */
  standbyMode(): Promise<boolean>;
  clock: Clock;
  log: LogFn;
  /** Replay that has not moved for this long in standby mode counts as caught up. Default 10 s. */
  stallMs?: number;
  /** Probe interval. Default 500 ms. */
  intervalMs?: number;
}

/**
 * Wait until the restored cluster is out of recovery. Recovery that ends by itself (end of archive with
 * recovery.signal, `recovery_target_action = promote`) is left alone; a server paused at its recovery target,
 * or in standby mode with nothing more to replay, is promoted (the new cluster needs a writable primary).
 * Throws when the postmaster dies. No time limit while it lives, like Patroni: replaying an archive may
 * take hours.
 */
export async function awaitEndOfRecovery(d: RecoveryWaitDeps): Promise<"ended" | "promoted"> {
  const stallMs = d.stallMs ?? 10_000;
  const interval = d.intervalMs ?? 500;
  let promoted = false;
  let last: { lsn: number | null; since: number } | null = null;
  let announced = false;
  for (;;) {
    const p = await d.probe().catch(() => null);
    if (p && !p.inRecovery) return promoted ? "promoted" : "ended";
    if (!p && !(await d.alive())) {
      throw new Error("PostgreSQL stopped while recovering after the custom bootstrap");
    }
    if (p && !promoted) {
      const now = d.clock.now();
      if (!last || last.lsn !== p.replayLsn) last = { lsn: p.replayLsn, since: now };
      let why: string | null = null;
      if (p.paused) why = "recovery is paused at its target";
      else if (now - last.since >= stallMs && (await d.standbyMode())) {
        why = "standby mode with nothing more to replay";
      }
      if (why) {
        d.log("info", `Promoting the restored cluster: ${why}`);
        await d.promote();
        promoted = true;
      } else if (!announced) {
        d.log("info", "waiting for end of recovery after bootstrap");
        announced = true;
      }
    }
    await d.clock.sleep(interval);
  }
}
