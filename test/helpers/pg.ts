/**
 * Helpers for tests against real PostgreSQL: node configs on free loopback ports in a temp directory the
 * PostgreSQL OS user can reach, and cleanup that leaves no postmaster behind.
 */
import { type Config, type ConfigInput, ConfigSchema } from "../../src/config/schema.ts";
import { PgCtl } from "../../src/postgres/pg_ctl.ts";
import { OsUser } from "../../src/postgres/os_user.ts";
import { binaries } from "../../src/postgres/pg_ctl.ts";

export const PG_BIN = "/usr/lib/postgresql/15/bin";
export const SUPERUSER_PASSWORD = "su-secret";
export const REPLICATION_PASSWORD = "repl-secret";
export const REWIND_PASSWORD = "rewind-secret";

/** A free port outside the ephemeral range (see ports.ts). */
import { freePort } from "./ports.ts";
export { freePort };

/** A temp directory (mode 0755) that the PostgreSQL OS user can traverse. */
export async function makeTestRoot(prefix = "pgwarden-pg-"): Promise<string> {
  const root = await Deno.makeTempDir({ prefix });
  await Deno.chmod(root, 0o755);
  return root;
}

export type PostgresqlInput = Partial<ConfigInput["postgresql"]>;

/** A validated config for node `name` under `root`: its own free port, data dir `<root>/<name>/data`. */
export function makeNodeConfig(
  root: string,
  name: string,
  opts: { scope?: string; postgresql?: PostgresqlInput; extra?: Partial<ConfigInput> } = {},
): Config {
  const port = freePort();
  return ConfigSchema.parse({
    name,
    scope: opts.scope ?? "pgtest",
    memory: {},
    restapi: { listen: `127.0.0.1:${freePort()}` },
    bootstrap: { initdb: ["no-sync", { encoding: "UTF8" }] },
    ...opts.extra,
    postgresql: {
      listen: `127.0.0.1:${port}`,
      connectAddress: `127.0.0.1:${port}`,
      dataDir: `${root}/${name}/data`,
      binDir: PG_BIN,
      pgCtlTimeout: 30,
      usePgRewind: true,
      authentication: {
        superuser: { username: "postgres", password: SUPERUSER_PASSWORD },
        replication: { username: "replicator", password: REPLICATION_PASSWORD },
        rewind: { username: "rewinder", password: REWIND_PASSWORD },
      },
      pgHba: [
        "local all all trust",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host replication replicator 127.0.0.1/32 scram-sha-256",
      ],
      // Test speed only: no spread checkpoint before the copy, nothing needs to survive a power cut.
      basebackup: { checkpoint: "fast" },
      parameters: { fsync: "off", synchronous_commit: "off" },
      ...opts.postgresql,
    },
  });
}

/** Stop any postmaster on the node's data directory: immediate shutdown, then SIGKILL its process group. */
export async function killNode(config: Config): Promise<void> {
  const ctl = new PgCtl(
    new OsUser(config.postgresql.osUser),
    binaries(config.postgresql.binDir),
    config.postgresql.dataDir,
    `${config.postgresql.dataDir}/postgresql.conf`,
    "/dev/null",
  );
  if ((await ctl.postmasterPid()) === null) return;
  await ctl.stop("immediate", 10).catch(() => {});
  const pid = await ctl.postmasterPid();
  if (pid === null) return;
  await ctl.kill("SIGKILL");
  // Wait for the process to go away so the directory can be removed.
  for (let i = 0; i < 100 && (await ctl.postmasterPid()) !== null; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Kill every node's postmaster, then remove `root`. Never throws. */
export async function cleanup(root: string, configs: Config[]): Promise<void> {
  for (const c of configs) await killNode(c).catch(() => {});
  await Deno.remove(root, { recursive: true }).catch(() => {});
}

/** Poll `fn` until it returns a truthy value; fail with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T> | T,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
