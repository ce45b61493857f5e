/** TS/JS config modules: default export forms, relative paths, reloads, and `defineConfig` type checking. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { DENO, issuesOf, REPO } from "./_helpers.ts";

const BODY = `{
  name: "node1",
  scope: "demo",
  etcd3: { hosts: ["127.0.0.1:2379"] },
  restapi: { listen: "127.0.0.1:8008" },
  postgresql: { listen: "127.0.0.1:5432", dataDir: "data/node1" },
}`;

async function withDir(f: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-config-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("TS config: a default-exported object; relative paths resolve against cwd", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/node1.ts`, `export default ${BODY};\n`);
    const c = await loadConfig(`${dir}/node1.ts`, { env: {}, cwd: "/srv/demo" });
    assertEquals([c.name, c.scope, c.postgresql.dataDir], ["node1", "demo", "/srv/demo/data/node1"]);
  });
});

Deno.test("TS config: async and sync function default exports; a .js module", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/async.ts`,
      `export default async () => { await new Promise((r) => setTimeout(r, 5)); return ${BODY}; };\n`,
    );
    await Deno.writeTextFile(`${dir}/sync.js`, `export default function () { return ${BODY}; }\n`);
    const a = await loadConfig(`${dir}/async.ts`, { env: {}, cwd: dir });
    const s = await loadConfig(`${dir}/sync.js`, { env: {}, cwd: dir });
    assertEquals([a.name, s.name, a.postgresql.dataDir], ["node1", "node1", `${dir}/data/node1`]);
  });
});

Deno.test("TS config: a relative config path resolves against cwd", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/node1.ts`, `export default ${BODY};\n`);
    assertEquals((await loadConfig("node1.ts", { env: {}, cwd: dir })).name, "node1");
  });
});

Deno.test("TS config: a changed module is re-imported on the next load", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/node1.ts`;
    await Deno.writeTextFile(path, `export default ${BODY};\n`);
    await Deno.utime(path, 1_000_000, 1_000_000);
    assertEquals((await loadConfig(path, { env: {} })).name, "node1");
    await Deno.writeTextFile(path, `export default ${BODY.replace('"node1"', '"renamed"')};\n`);
    await Deno.utime(path, 2_000_000, 2_000_000);
    assertEquals((await loadConfig(path, { env: {} })).name, "renamed");
  });
});

Deno.test("TS config: missing default export, a throwing function, bad extension, missing file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/none.ts`, `export const config = ${BODY};\n`);
    await Deno.writeTextFile(`${dir}/throws.ts`, `export default () => { throw new Error("no vault"); };\n`);
    await Deno.writeTextFile(`${dir}/conf.json`, `{}`);
    assertEquals(await issuesOf(() => loadConfig(`${dir}/none.ts`, { env: {} })), [
      "(module): expected a default export (the config object or a function returning it), got nothing",
    ]);
    assertEquals(await issuesOf(() => loadConfig(`${dir}/throws.ts`, { env: {} })), [
      "(module): the default export function failed: no vault",
    ]);
    assertEquals(await issuesOf(() => loadConfig(`${dir}/conf.json`, { env: {} })), [
      `(file): expected a .yml, .yaml, .ts or .js file, got "${dir}/conf.json"`,
    ]);
    const missing = await issuesOf(() => loadConfig(`${dir}/absent.yml`, { env: {} }));
    assertEquals(missing.length, 1);
    assert(missing[0]!.startsWith(`(file): cannot read ${dir}/absent.yml: `), missing[0]);
  });
});

Deno.test("TS config: the demo configs load with absolute paths", async () => {
  for (const n of [1, 2, 3]) {
    const c = await loadConfig(`${REPO}/config/demo/node${n}.ts`, { env: {}, cwd: REPO });
    assertEquals(c.name, `node${n}`);
    assertEquals(c.scope, "demo");
    assertEquals(c.etcd3?.hosts, ["127.0.0.1:2379"]);
    assertEquals(c.postgresql.listen, `127.0.0.1:${5431 + n}`);
    assertEquals(c.restapi.listen, `127.0.0.1:${8007 + n}`);
    assertEquals(c.postgresql.dataDir, `${REPO}/data/node${n}`);
    assertEquals(c.postgresql.authentication.superuser, { username: "postgres", password: "postgres" });
    assertEquals(c.postgresql.authentication.replication, { username: "replicator", password: "rep-pass" });
    assertEquals([c.bootstrap.dcs.ttl, c.bootstrap.dcs.loopWait, c.bootstrap.dcs.retryTimeout], [10, 2, 3]);
    // wal_log_hints comes with use_pg_rewind (a local setting would be ignored with a warning, as in Patroni).
    assertEquals([c.postgresql.usePgRewind, c.postgresql.parameters.wal_log_hints], [true, undefined]);
  }
});

async function denoCheck(dir: string, source: string) {
  await Deno.writeTextFile(`${dir}/node.ts`, source);
  const out = await new Deno.Command(DENO, {
    args: ["check", "--config", `${REPO}/deno.json`, `${dir}/node.ts`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout),
  };
}

Deno.test("defineConfig: a typo in a TS config fails deno check, naming the key", async () => {
  await withDir(async (dir) => {
    const good = `import { defineConfig } from "${REPO}/mod.ts";\nexport default defineConfig(${BODY});\n`;
    const ok = await denoCheck(dir, good);
    assertEquals(ok.code, 0, ok.text);
    const typo = await denoCheck(dir, good.replace("dataDir:", "dataDri:"));
    assert(typo.code !== 0, "deno check accepted the typo");
    assert(typo.text.includes("'dataDri' does not exist"), typo.text);
  });
});

Deno.test("TS config: loading does not modify the module's exported object", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/citus.ts`,
      `export const config = ${
        BODY.replace(
          'name: "node1",',
          'name: "node1", citus: { group: 0, database: "citus" }, bootstrap: { dcs: { ttl: 30 } },',
        )
      };
export default config;\n`,
    );
    const c = await loadConfig(`${dir}/citus.ts`, { env: { PATRONI_NAME: "from-env" }, cwd: dir });
    assertEquals([c.name, c.bootstrap.dcs.synchronousMode], ["from-env", "quorum"]);
    const mod = await import(
      `file://${dir}/citus.ts?mtime=${(await Deno.stat(`${dir}/citus.ts`)).mtime!.getTime()}`
    );
    assertEquals([mod.config.name, mod.config.bootstrap, mod.config.postgresql.dataDir], [
      "node1",
      { dcs: { ttl: 30 } },
      "data/node1",
    ]);
  });
});
