/**
 * Seeded simulation runner:
 * `deno task sim --seeds N [--seed S] [--verbose] [--nodes K] [--faults a,b] [--max-faults M]
 *  [--sync on|strict|quorum|quorum_strict] [--watchdog on|off]`.
 * Runs seeds S, S+1, ... (S defaults to 1); exits 1 on the first failure after printing it with its replay
 * command.
 */
import { FAULT_KINDS, type FaultKind, runSeed, SYNC_PROFILES, type SyncProfile } from "./run.ts";

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function int(v: string | undefined, def: number, name: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name}: expected a non-negative integer, got ${JSON.stringify(v)}`);
    Deno.exit(2);
  }
  return n;
}

export async function main(args: string[]): Promise<number> {
  const seed = int(flag(args, "seed"), 1, "seed");
  const seeds = int(flag(args, "seeds"), flag(args, "seed") !== undefined ? 1 : 100, "seeds");
  const nodes = flag(args, "nodes") !== undefined ? int(flag(args, "nodes"), 3, "nodes") : undefined;
  const verbose = args.includes("--verbose");
  const maxFaults = flag(args, "max-faults") !== undefined
    ? int(flag(args, "max-faults"), 4, "max-faults")
    : undefined;
  const faultsArg = flag(args, "faults");
  const faults = faultsArg?.split(",").map((f) => f.trim()) as FaultKind[] | undefined;
  for (const f of faults ?? []) {
    if (!FAULT_KINDS.includes(f)) {
      console.error(
        `--faults: unknown fault ${JSON.stringify(f)}; expected some of ${FAULT_KINDS.join(",")}`,
      );
      return 2;
    }
  }
  const sync = flag(args, "sync") as SyncProfile | undefined;
  const wd = flag(args, "watchdog");
  if (wd !== undefined && wd !== "on" && wd !== "off") {
    console.error(`--watchdog: expected on or off, got ${JSON.stringify(wd)}`);
    return 2;
  }
  const watchdog = wd === undefined ? {} : { watchdog: wd === "on" };
  if (sync !== undefined && !SYNC_PROFILES.includes(sync)) {
    console.error(`--sync: expected one of ${SYNC_PROFILES.join(",")}, got ${JSON.stringify(sync)}`);
    return 2;
  }
  const t0 = performance.now();
  let worst = 0, virtual = 0, changes = 0, resets = 0;
  for (let s = seed; s < seed + seeds; s++) {
    const r = await runSeed(s, { verbose, nodes, faults, maxFaults, ...(sync ? { sync } : {}), ...watchdog });
    virtual += r.virtualS;
    changes += r.leaderChanges;
    resets += r.watchdogResets;
    if (!r.ok) {
      console.error(r.failure);
      return 1;
    }
    worst = Math.max(worst, r.convergeMs ?? 0);
    if (verbose) {
      console.log(
        `seed ${s} ok: converged ${(r.convergeMs! / 1000).toFixed(1)}s after healing; faults: ${
          r.faults.join("; ")
        }`,
      );
    }
  }
  const wall = (performance.now() - t0) / 1000;
  console.log(
    `${seeds} seeds ok (${seed}..${seed + seeds - 1}): ${virtual.toFixed(0)} virtual s in ${
      wall.toFixed(1)
    } s, ` +
      `${changes} leader changes, ${resets} watchdog resets, slowest convergence ${
        (worst / 1000).toFixed(1)
      } s after healing`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
