/**
 * Installs the Citus emulation (citus.control + its SQL script, see README.md) as the `citus` extension of the
 * local PostgreSQL 15, so that pgwarden's unchanged `CREATE EXTENSION IF NOT EXISTS citus` finds it, plus a
 * post_bootstrap script that puts dblink into template1 (the emulation reaches other nodes through it).
 *
 * Refuses to touch a real Citus installation. `uninstall()` removes only the files this call created.
 */
const HERE = new URL(".", import.meta.url).pathname;
const PG_CONFIG = "/usr/lib/postgresql/15/bin/pg_config";
const FILES = ["citus.control", "citus--13.0-pgwarden-emulation.sql"];
const MARKER = "pgwarden TEST EMULATION";

async function sharedir(): Promise<string> {
  const out = await new Deno.Command(PG_CONFIG, { args: ["--sharedir"], stdout: "piped" }).output();
  if (!out.success) throw new Error("pg_config --sharedir failed");
  return new TextDecoder().decode(out.stdout).trim();
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

export interface CitusEmulation {
  /** A post_bootstrap command (argument: the new cluster's URL) that creates dblink in template1. */
  postBootstrap: string;
  uninstall(): Promise<void>;
}

/** Install the emulation; `dir` (readable by the postgres OS user) receives the post_bootstrap script. */
export async function installCitusEmulation(dir: string): Promise<CitusEmulation> {
  const extDir = `${await sharedir()}/extension`;
  const existing = await readOrNull(`${extDir}/citus.control`);
  if (existing !== null && !existing.includes(MARKER)) {
    throw new Error(`${extDir}/citus.control is a real Citus: the tests use their emulation only without it`);
  }
  const created: string[] = [];
  for (const f of FILES) {
    const target = `${extDir}/${f}`;
    const text = await Deno.readTextFile(`${HERE}${f}`);
    const before = await readOrNull(target);
    if (before === text) continue;
    await Deno.writeTextFile(target, text, { mode: 0o644 });
    if (before === null) created.push(target);
  }
  const script = `${dir}/citus_post_bootstrap.sh`;
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\n# Test fixture: dblink in template1, so every Citus database has it.\nset -e\n` +
      `exec /usr/lib/postgresql/15/bin/psql "\${1%/*}/template1" -v ON_ERROR_STOP=1 -qc ` +
      `"CREATE EXTENSION IF NOT EXISTS dblink"\n`,
    { mode: 0o755 },
  );
  await Deno.chmod(script, 0o755);
  return {
    postBootstrap: script,
    async uninstall() {
      for (const f of created) await Deno.remove(f).catch(() => {});
    },
  };
}
