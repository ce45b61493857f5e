/**
 * Patroni's argument conventions for generic bootstrap and replica-creation methods (WAL-E/WAL-G style tools).
 * Section keys other than the special ones are passed verbatim as `--<key>=<value>`; booleans print as
 * Python does (`True`/`False`) because existing scripts parse exactly that.
 */
import { shellSplit } from "../../src/plugins/shlex.ts";

/** The keys with special meaning, in either spelling (Patroni YAML is snake_case, TS configs camelCase). */
const SPECIAL: Record<string, string> = {
  command: "command",
  no_params: "noParams",
  noParams: "noParams",
  keep_data: "keepData",
  keepData: "keepData",
  no_leader: "noLeader",
  noLeader: "noLeader",
  no_master: "noLeader",
  noMaster: "noLeader",
  keep_existing_recovery_conf: "keepExistingRecoveryConf",
  keepExistingRecoveryConf: "keepExistingRecoveryConf",
  recovery_conf: "recoveryConf",
  recoveryConf: "recoveryConf",
  // Reserved: Patroni sets these itself.
  scope: "scope",
  datadir: "datadir",
  role: "role",
  connstring: "connstring",
  timeout_ms: "timeoutMs",
  timeoutMs: "timeoutMs",
  user: "user",
};

export interface ParsedSection {
  command: string;
  noParams: boolean;
  keepData: boolean;
  noLeader: boolean;
  /** Bootstrap: keep the recovery settings the command left (for the agent, not passed). */
  keepExistingRecoveryConf: boolean;
  /** Keys passed as `--k=v`, in section order; `keep_data`/`no_leader` included under their snake names. */
  extra: [string, unknown][];
}

export function parseSection(section: Record<string, unknown>): ParsedSection {
  const out: ParsedSection = {
    command: "",
    noParams: false,
    keepData: false,
    noLeader: false,
    keepExistingRecoveryConf: false,
    extra: [],
  };
  for (const [k, v] of Object.entries(section)) {
    const special = SPECIAL[k];
    if (special === "command") out.command = String(v);
    else if (special === "noParams") out.noParams = truthy(v);
    else if (special === "keepExistingRecoveryConf") out.keepExistingRecoveryConf = truthy(v);
    else if (special === "keepData" || special === "noLeader") {
      out[special] = truthy(v);
      out.extra.push([special === "keepData" ? "keep_data" : "no_leader", v]);
    } else if (special === undefined) out.extra.push([k, v]);
  }
  return out;
}

function truthy(v: unknown): boolean {
  return v === true || (typeof v === "string" && /^(true|on|yes|1)$/i.test(v)) || v === 1;
}

/** Python `str()` of a YAML scalar. */
export function pyStr(v: unknown): string {
  if (v === true) return "True";
  if (v === false) return "False";
  if (v === null || v === undefined) return "None";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

const flag = (k: string, v: unknown) => `--${k}=${pyStr(v)}`;

/** `command --scope=… --datadir=… --k=v…` for a custom bootstrap method. */
export function bootstrapArgv(s: ParsedSection, ctx: { scope: string; dataDir: string }): string[] {
  const argv = shellSplit(s.command);
  if (!s.noParams) argv.push(flag("scope", ctx.scope), flag("datadir", ctx.dataDir));
  // keep_data / no_leader are not Patroni bootstrap keys, so they are forwarded like any other key.
  for (const [k, v] of s.extra) argv.push(flag(k, v));
  return argv;
}

/** `command --k=v… --scope=… --role=replica --datadir=… --connstring=…` for a replica-creation method. */
export function replicaArgv(
  s: ParsedSection,
  ctx: { scope: string; dataDir: string; connstring: string | null },
): string[] {
  const argv = shellSplit(s.command);
  // With no_params, Patroni drops its special keys and adds nothing of its own.
  const passed = s.noParams ? s.extra.filter(([k]) => k !== "keep_data" && k !== "no_leader") : s.extra;
  for (const [k, v] of passed) argv.push(flag(k, v));
  if (!s.noParams) {
    argv.push(
      flag("scope", ctx.scope),
      flag("role", "replica"),
      flag("datadir", ctx.dataDir),
      flag("connstring", ctx.connstring ?? ""),
    );
  }
  return argv;
}
