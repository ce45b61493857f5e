/** `ctl validate` / `ctl permissions` and the bin/pgwarden launcher, end to end in subprocesses. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { BASE_YAML, DENO, REPO } from "./_helpers.ts";

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, cwd: REPO, stdout: "piped", stderr: "piped" })
    .output();
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}
const ctl = (...args: string[]) =>
  run(DENO, [
    "run",
    "--allow-all",
    "--quiet",
    "--config",
    `${REPO}/deno.json`,
    `${REPO}/src/ctl/main.ts`,
    ...args,
  ]);

async function withDir(f: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-ctl-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ctl validate: a good TS config and a Patroni sample print ok", async () => {
  for (const path of ["config/demo/node1.ts", "test/fixtures/patroni/upstream/postgres0.yml"]) {
    const r = await ctl("validate", path);
    assertEquals([r.code, r.stdout, r.stderr], [0, "ok\n", ""]);
  }
});

Deno.test("ctl validate: a broken config exits 2 with one path-specific error per line", async () => {
  await withDir(async (dir) => {
    const broken =
      BASE_YAML.replace("data_dir:", "data_dri:").replace("listen: 127.0.0.1:5432", 'listen: "5432"') +
      "bootstrap:\n  dcs:\n    ttl: 5\n";
    await Deno.writeTextFile(`${dir}/broken.yml`, broken);
    const r = await ctl("validate", `${dir}/broken.yml`);
    assertEquals(r.code, 2);
    assertEquals(r.stdout, "");
    assertEquals(r.stderr.trimEnd().split("\n"), [
      'postgresql.listen: expected "host:port", got "5432"',
      "postgresql.data_dir: required, expected a string",
      'postgresql.data_dri: unknown key, did you mean "data_dir"?',
      "bootstrap.dcs.ttl: expected loop_wait + 2*retry_timeout <= ttl, got 10 + 2*10 = 30 > 5",
    ]);
  });
});

Deno.test("ctl permissions: one flag per line, each scoped", async () => {
  const r = await ctl("permissions", "config/demo/node1.ts");
  assertEquals([r.code, r.stderr], [0, ""]);
  const lines = r.stdout.trimEnd().split("\n");
  assertEquals(lines.map((l) => l.split("=")[0]), [
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-env",
    "--allow-sys",
    // the demo's watchdog (automatic, default driver) reaches libc through FFI
    "--allow-ffi",
  ]);
  assert(lines.every((l) => /^--allow-[a-z]+=[^*\s]+$/.test(l)), r.stdout);
  assert(lines.includes("--allow-net=127.0.0.1,unix:/tmp/.s.PGSQL.5432"), r.stdout);
});

/** A stand-in agent: reports its pid, arguments and what it may do. */
const STUB = `
const q = (d) => Deno.permissions.querySync(d).state;
console.log(JSON.stringify({
  pid: Deno.pid,
  args: Deno.args,
  netAny: q({ name: "net" }),
  netEtcd: q({ name: "net", host: "127.0.0.1:2379" }),
  netElsewhere: q({ name: "net", host: "192.0.2.1:80" }),
  readAny: q({ name: "read" }),
  readConfig: q({ name: "read", path: Deno.args[0] }),
  readEtc: q({ name: "read", path: "/etc/shadow" }),
  runPgCtl: q({ name: "run", command: "/usr/lib/postgresql/15/bin/pg_ctl" }),
  runSh: q({ name: "run", command: "/bin/sh" }),
  envScope: q({ name: "env", variable: "PATRONI_SCOPE" }),
  envOther: q({ name: "env", variable: "SECRET_TOKEN" }),
}));
`;

Deno.test("bin/pgwarden: computes scoped permissions and execs the agent in its own process", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/bin`);
    await Deno.symlink(DENO, `${dir}/bin/deno`);
    await Deno.writeTextFile(`${dir}/agent.js`, STUB);
    await Deno.copyFile(`${REPO}/test/fixtures/patroni/upstream/postgres1.yml`, `${dir}/postgres1.yml`);
    const child = new Deno.Command(`${REPO}/bin/pgwarden`, {
      args: [`${dir}/postgres1.yml`, "--flag", "x"],
      env: {
        PATH: `${dir}/bin:/usr/bin:/bin`,
        PGWARDEN_AGENT: `${dir}/agent.js`,
        PATRONI_SCOPE: "from-env",
        SECRET_TOKEN: "x",
      },
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = await child.output();
    assertEquals([out.code, decode(out.stderr)], [0, ""]);
    const report = JSON.parse(decode(out.stdout));
    // exec: the process the supervisor started is the agent itself
    assertEquals(report.pid, child.pid);
    assertEquals(report.args[0], `${dir}/postgres1.yml`);
    assertEquals(report.args.slice(-2), ["--flag", "x"]);
    assertEquals(
      [report.netAny, report.netEtcd, report.netElsewhere],
      ["prompt", "granted", "prompt"],
    );
    assertEquals([report.readAny, report.readConfig, report.readEtc], ["prompt", "granted", "prompt"]);
    assertEquals([report.runPgCtl, report.runSh], ["granted", "prompt"]);
    assertEquals([report.envScope, report.envOther], ["granted", "prompt"]);
  });
});

Deno.test("bin/pgwarden: an invalid config prints its errors and exits 2 without starting the agent", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/bin`);
    await Deno.symlink(DENO, `${dir}/bin/deno`);
    await Deno.writeTextFile(`${dir}/agent.js`, STUB);
    await Deno.writeTextFile(`${dir}/bad.yml`, BASE_YAML.replace("listen: 127.0.0.1:8008", "listen: 8008"));
    const r = await run(`${REPO}/bin/pgwarden`, [`${dir}/bad.yml`], {
      PATH: `${dir}/bin:/usr/bin:/bin`,
      PGWARDEN_AGENT: `${dir}/agent.js`,
    });
    assertEquals([r.code, r.stdout, r.stderr], [2, "", 'restapi.listen: expected "host:port", got 8008\n']);
    const usage = await run(`${REPO}/bin/pgwarden`, [], { PATH: `${dir}/bin:/usr/bin:/bin` });
    assertEquals(usage.code, 2);
    assert(usage.stderr.startsWith("usage: pgwarden <config"), usage.stderr);
  });
});

Deno.test("bin/pgwarden: without deno on PATH it runs the deno npm package's binary, still as one process", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/agent.js`, STUB);
    const child = new Deno.Command(`${REPO}/bin/pgwarden`, {
      args: [`${REPO}/config/demo/node1.ts`],
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", PGWARDEN_AGENT: `${dir}/agent.js` },
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = await child.output();
    assertEquals(out.code, 0, decode(out.stderr));
    const report = JSON.parse(decode(out.stdout));
    assertEquals([report.pid, report.netEtcd, report.netAny], [child.pid, "granted", "prompt"]);
  });
});

Deno.test("bin/pgwarden: the granted permissions suffice to load the config in the agent (TS and YAML)", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/bin`);
    await Deno.symlink(DENO, `${dir}/bin/deno`);
    await Deno.writeTextFile(
      `${dir}/agent.ts`,
      `import { loadConfig } from "${REPO}/src/config/load.ts";
const c = await loadConfig(Deno.args[0]!);
console.log(JSON.stringify({ name: c.name, scope: c.scope, etcd: c.etcd3?.hosts ?? c.etcd3?.host }));\n`,
    );
    const start = (config: string) =>
      run(`${REPO}/bin/pgwarden`, [config], {
        PATH: `${dir}/bin:/usr/bin:/bin`,
        PGWARDEN_AGENT: `${dir}/agent.ts`,
        PATRONI_SCOPE: "env-scope",
        PATRONI_ETCD3_HOSTS: "'10.0.0.1:2379','10.0.0.2:2379'",
      });
    const ts = await start(`${REPO}/config/demo/node1.ts`);
    assertEquals([ts.code, ts.stderr], [0, ""]);
    assertEquals(JSON.parse(ts.stdout), {
      name: "node1",
      scope: "env-scope",
      etcd: ["10.0.0.1:2379", "10.0.0.2:2379"],
    });
    const yml = await start(`${REPO}/test/fixtures/patroni/debian/postgres2.yml`);
    assertEquals([yml.code, yml.stderr], [0, ""]);
    assertEquals(JSON.parse(yml.stdout), {
      name: "postgresql2",
      scope: "env-scope",
      etcd: ["10.0.0.1:2379", "10.0.0.2:2379"],
    });
  });
});
