/** pgBackRest command lines for the two methods. */
import type { PgBackRestConfig } from "./mod.ts";

function globals(c: PgBackRestConfig): string[] {
  const out = [`--stanza=${c.stanza}`];
  if (c.configFile) out.push(`--config=${c.configFile}`);
  for (const [k, v] of Object.entries(c.options)) out.push(`--${k}=${v}`);
  return out;
}

/** `pgbackrest --stanza=s [--type=time --target=...] restore --pg1-path=<dataDir>`: a new cluster from the repo. */
export function bootstrapArgv(c: PgBackRestConfig, dataDir: string): string[] {
  const r = c.bootstrap;
  const target: string[] = [];
  if (r.type) target.push(`--type=${r.type}`);
  if (r.target !== undefined) target.push(`--target=${r.target}`);
  if (r.targetAction) target.push(`--target-action=${r.targetAction}`);
  if (r.set) target.push(`--set=${r.set}`);
  return [c.executable, ...globals(c), ...target, ...r.extraArgs, "restore", `--pg1-path=${dataDir}`];
}

/** `pgbackrest --stanza=s --type=standby restore --delta --pg1-path=<dataDir>`: a replica from the repo. */
export function replicaArgv(c: PgBackRestConfig, dataDir: string): string[] {
  return [
    c.executable,
    ...globals(c),
    "--type=standby",
    ...c.replica.extraArgs,
    "restore",
    "--delta",
    `--pg1-path=${dataDir}`,
  ];
}
