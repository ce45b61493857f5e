/**
 * Run the ctl (and, for comparison, Debian's patronictl 3.0.2) as a subprocess, for end-to-end tests against a
 * running cluster:
 *
 * ```ts
 * const r = await runCtlProcess(["list", "-f", "json"], { config: node1ConfigPath });
 * assert.equal(r.code, 0, r.stderr);
 * const rows = parseListJson(r.stdout); // [{Member, Host, Role, State, TL, ...}]
 * ```
 *
 * Global options (`-c`, `-d`, `-k`) are put before the command, as the ctl requires.
 */

const ROOT = new URL("../../", import.meta.url).pathname;
export const PATRONICTL_BIN = "/usr/bin/patronictl";

export interface CtlProcessOptions {
  /** Config file passed as `-c`: a pgwarden TS module, an agent's Patroni YAML, or a ctl-only YAML. */
  config?: string;
  /** `-d`: e.g. `etcd3://127.0.0.1:2379`. */
  dcsUrl?: string;
  /** Text fed to stdin (answers to prompts). */
  stdin?: string;
  /** Extra environment; `PATRONICTL_CONFIG_FILE`/`DCS_URL` from this process are not inherited. */
  env?: Record<string, string>;
  /** Kill the process after this long (default 120 s). */
  timeoutMs?: number;
}

export interface CtlProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], o: CtlProcessOptions): Promise<CtlProcessResult> {
  const env = { ...Deno.env.toObject(), ...o.env };
  for (const k of ["PATRONICTL_CONFIG_FILE", "DCS_URL"]) if (!o.env?.[k]) delete env[k];
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(o.stdin ?? ""));
  await writer.close();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, o.timeoutMs ?? 120_000);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

function globals(o: CtlProcessOptions): string[] {
  return [...(o.config ? ["-c", o.config] : []), ...(o.dcsUrl ? ["-d", o.dcsUrl] : [])];
}

/** `deno run --allow-all src/ctl/main.ts <globals> <args>` (what `deno task ctl` runs). */
export function runCtlProcess(args: string[], o: CtlProcessOptions = {}): Promise<CtlProcessResult> {
  return run(Deno.execPath(), [
    "run",
    "--allow-all",
    `--config=${ROOT}deno.json`,
    `${ROOT}src/ctl/main.ts`,
    ...globals(o),
    ...args,
  ], o);
}

/** Debian's patronictl 3.0.2 with the same options (its config must be Patroni YAML). */
export function runPatronictl(args: string[], o: CtlProcessOptions = {}): Promise<CtlProcessResult> {
  return run(PATRONICTL_BIN, [...globals(o), ...args], o);
}

export async function hasPatronictl(): Promise<boolean> {
  try {
    return (await Deno.stat(PATRONICTL_BIN)).isFile;
  } catch {
    return false;
  }
}

/** The rows of `list -f json`. */
export function parseListJson(stdout: string): Record<string, unknown>[] {
  const v = JSON.parse(stdout);
  if (!Array.isArray(v)) {
    throw new Error(`expected a JSON array from list -f json, got ${stdout.slice(0, 200)}`);
  }
  return v as Record<string, unknown>[];
}
