/**
 * `deno task chaos --faults N --seed S [--ttl T] [--sync] [--no-watchdog] [--only kind,kind]`: a seeded
 * chaos run on a real 3-member cluster (see run.ts).
 * Prints one JSON line per record on stdout, a human summary on stderr; exits 1 on any violation.
 */
import { parseArgs } from "node:util";
import { FAULT_KINDS, type FaultKind } from "./faults.ts";
import { type ChaosResult, runChaos } from "./run.ts";

function parseKinds(list: string): FaultKind[] {
  const kinds = list.split(",").map((k) => k.trim());
  for (const k of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) {
      console.error(`unknown fault kind "${k}", expected some of ${FAULT_KINDS.join(", ")}`);
      Deno.exit(2);
    }
  }
  return kinds as FaultKind[];
}

export function summarize(r: ChaosResult): string {
  const lines = [
    `chaos seed ${r.seed}: ${r.faults.length} faults, partition ${r.partition}, ` +
    `${r.synchronous ? "synchronous_mode_strict" : "asynchronous replication"}`,
    ...r.faults.map((f) =>
      `  #${f.index} ${f.kind.padEnd(15)} ${(f.target ?? "-").padEnd(6)} (${f.role}) ` +
      (f.skipped
        ? `skipped: ${f.skipped}`
        : `recovered ${
          f.recoveredMs === null ? "NOT in time" : `in ${(f.recoveredMs / 1000).toFixed(1)} s`
        }, ` +
          `primary ${f.primaryBefore} -> ${f.primaryAfter ?? "?"}, ${f.acked} acked, ` +
          `${f.missing.length} missing${f.durabilityChecked ? "" : " (promotion: not checked)"}` +
          (f.resets ? `, ${f.resets} watchdog reset(s)` : ""))
    ),
    `split-brain probe instants: ${r.splitBrains}`,
    r.violations.length
      ? `VIOLATIONS (${r.violations.length}):\n  ${r.violations.join("\n  ")}`
      : "no violations",
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      faults: { type: "string", default: "100" },
      seed: { type: "string", default: "1" },
      ttl: { type: "string", default: "10" },
      sync: { type: "boolean", default: false },
      "no-watchdog": { type: "boolean", default: false },
      only: { type: "string" },
    },
  });
  // Ctrl-C: finish the current fault, clean up, report.
  const stop = new AbortController();
  Deno.addSignalListener("SIGINT", () => stop.abort());
  const result = await runChaos({
    signal: stop.signal,
    faults: Number(values.faults),
    seed: Number(values.seed),
    ttl: Number(values.ttl),
    synchronous: values.sync,
    watchdog: !values["no-watchdog"],
    ...(values.only ? { only: parseKinds(values.only) } : {}),
    emit: (rec) => console.log(JSON.stringify(rec)),
  });
  console.error(summarize(result));
  Deno.exit(result.violations.length ? 1 : 0);
}
