/** Deno permissions derived from a config: exact grants, never a bare (global) flag. */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { loadConfig, parsePatroniYaml } from "../../src/config/load.ts";
import { computePermissions, endpointOf, executableOf } from "../../src/config/permissions.ts";
import { BASE_YAML, REPO } from "./_helpers.ts";

/** A PATH lookup over a fixed set of executables, so results do not depend on this machine. */
const which = (name: string) =>
  ({
    runuser: "/usr/sbin/runuser",
    pgbackrest: "/usr/bin/pgbackrest",
    patroni_wale_restore: "/usr/local/bin/patroni_wale_restore",
  })[
    name
  ];
const PG = "/usr/lib/postgresql/15/bin";
const PG_RUN = ["initdb", "pg_basebackup", "pg_controldata", "pg_ctl", "pg_isready", "pg_rewind", "postgres"]
  .map((b) => `${PG}/${b}`);

/** `expected` entries are all granted (runtime needs of libraries may add more, never wildcards). */
function assertIncludes(actual: string[], expected: string[]) {
  const missing = expected.filter((e) => !actual.includes(e));
  assertEquals(missing, [], `missing from ${JSON.stringify(actual)}`);
}

Deno.test("permissions: demo node1 gets exact grants and no wildcard", async () => {
  const configPath = `${REPO}/config/demo/node1.ts`;
  const c = await loadConfig(configPath, { env: {}, cwd: REPO });
  const env = { HOME: "/root", PATRONI_LOG_LEVEL: "DEBUG", UNRELATED: "x" };
  const p = computePermissions(c, { configPath, env, uid: 0, cwd: REPO, which });
  // etcd 127.0.0.1:2379 and REST 127.0.0.1:8008 are covered by the whole host 127.0.0.1 (peers' ports); the
  // local socket is what bootstrap uses before any role has a password.
  assertEquals(p.list("net"), ["127.0.0.1", "unix:/tmp/.s.PGSQL.5432"]);
  // sorted, so where the checkout lives decides the order
  assertEquals(p.list("write"), ["/dev/watchdog", "/tmp/.s.PGSQL.5432", `${REPO}/data`].sort());
  assertIncludes(p.list("read"), [
    "/dev/watchdog",
    `${REPO}/config/demo`,
    `${REPO}/data`,
    `${REPO}/mod.ts`,
    `${REPO}/src`,
  ]);
  assertIncludes(p.list("run"), [...PG_RUN, "/usr/sbin/runuser"]);
  assertIncludes(p.list("env"), ["HOME", "LOG_STREAM", "LOG_TOKENS", "PATRONI_LOG_LEVEL", "PGPASSFILE"]);
  assertEquals(p.list("env").includes("UNRELATED"), false);
  assertEquals(p.list("sys"), ["gid", "uid"]);
  const flags = p.toDenoFlags();
  assertEquals(flags.map((f) => f.split("=")[0]), [
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-env",
    "--allow-sys",
    "--allow-ffi",
  ]);
  // The default watchdog driver reaches libc through FFI, and nothing else.
  assert(
    p.list("ffi").length > 0 && p.list("ffi").every((f) => /\/libc\.so\.6$/.test(f)),
    p.list("ffi").join(),
  );
  for (const f of flags) {
    const [, values] = f.split("=", 2);
    assert(values && values.length > 0, `bare flag ${f}`);
    assert(!values.includes("*"), `wildcard in ${f}`);
    assert(!values.split(",").includes("/"), `root directory granted in ${f}`);
  }
  for (const r of [...p.list("read"), ...p.list("write")]) assert(r.startsWith("/"), `relative path ${r}`);
});

Deno.test("permissions: not root means no runuser", async () => {
  const configPath = `${REPO}/config/demo/node2.ts`;
  const c = await loadConfig(configPath, { env: {}, cwd: REPO });
  const p = computePermissions(c, { configPath, env: {}, uid: 1000, cwd: REPO, which });
  assertIncludes(p.list("run"), PG_RUN);
  assertEquals(p.list("run").some((r) => r.endsWith("runuser")), false);
});

Deno.test("permissions: DCS endpoints by host:port, hosts where ports vary, commands by absolute path", () => {
  const c = parsePatroniYaml(
    BASE_YAML.replace(
      "etcd3:\n  hosts: 127.0.0.1:2379",
      "etcd3:\n  hosts: [https://10.0.0.1:2379, 10.0.0.2:2379]\n  url: http://etcd.internal",
    )
      .replace("listen: 127.0.0.1:8008", "listen: 0.0.0.0:8008")
      .replace("connect_address: 127.0.0.1:8008", "connect_address: 10.0.0.5:8008")
      .replace("listen: 127.0.0.1:5432", "listen: 127.0.0.1,10.0.0.5:5432")
      .replace("connect_address: 127.0.0.1:5432", "connect_address: 10.0.0.5:5432") + `
  bin_dir: /opt/pg/bin
  bin_name: {pg_ctl: /opt/wrappers/pg_ctl}
  pgpass: pgpass.conf
  create_replica_methods: [pgbackrest, wal_e, basebackup]
  pgbackrest: {command: pgbackrest --stanza=x restore}
  wal_e: {command: patroni_wale_restore}
  callbacks:
    on_role_change: '"/opt/my scripts/cb.sh" --role'
    on_start: ./hooks/start.sh
  pre_promote: /opt/fence.sh --now
  use_unix_socket: true
  parameters: {unix_socket_directories: "/run/postgresql, .."}
bootstrap:
  post_bootstrap: /opt/post.sh
log: {dir: /var/log/pgwarden}
watchdog: {mode: "off"}
`,
    { env: {}, cwd: "/srv" },
  );
  const p = computePermissions(c, {
    configPath: "/etc/pgwarden/node1.yml",
    env: {},
    uid: 1000,
    cwd: "/srv",
    which,
  });
  assertEquals(p.list("net"), [
    "0.0.0.0:8008",
    "10.0.0.1:2379",
    "10.0.0.2:2379",
    "10.0.0.5",
    "127.0.0.1",
    "etcd.internal:2379",
    "unix:/run/postgresql/.s.PGSQL.5432",
  ]);
  assertIncludes(p.list("run"), [
    "/opt/fence.sh",
    "/opt/my scripts/cb.sh",
    "/opt/pg/bin/initdb",
    "/opt/pg/bin/pg_basebackup",
    "/opt/pg/bin/pg_controldata",
    "/opt/pg/bin/pg_isready",
    "/opt/pg/bin/pg_rewind",
    "/opt/pg/bin/postgres",
    "/opt/post.sh",
    "/opt/wrappers/pg_ctl",
    "/srv/hooks/start.sh",
    "/usr/bin/pgbackrest",
    "/usr/local/bin/patroni_wale_restore",
  ]);
  assertIncludes(p.list("read"), [
    "/etc/pgwarden/node1.yml",
    "/run/postgresql",
    "/srv/pgpass.conf",
    "/var/lib/pgwarden",
    "/var/log/pgwarden",
  ]);
  // the data dir is inside its granted parent; ".." socket dir resolves against the data dir
  assertEquals(p.list("ffi"), [], "no FFI without a watchdog");
  assertEquals(p.list("write"), [
    "/run/postgresql",
    "/srv/pgpass.conf",
    "/var/lib/pgwarden",
    "/var/log/pgwarden",
  ]);
});

Deno.test("permissions: extra grants from the config's permissions section", () => {
  const c = parsePatroniYaml(
    BASE_YAML +
      "permissions:\n  net: [10.0.0.12, 10.0.0.13:8008]\n  read: [certs]\n  run: [pgbackrest]\n  env: [AWS_REGION]\n",
    { env: {}, cwd: "/srv" },
  );
  const p = computePermissions(c, { configPath: "/srv/n.yml", env: {}, uid: 1000, cwd: "/srv", which });
  assert(p.list("net").includes("10.0.0.12") && p.list("net").includes("10.0.0.13:8008"));
  assert(p.list("read").includes("/srv/certs"));
  assert(p.list("run").includes("/usr/bin/pgbackrest"));
  assert(p.list("env").includes("AWS_REGION"));
});

Deno.test("permissions: a path with a comma cannot be expressed as a Deno flag", () => {
  const c = parsePatroniYaml(BASE_YAML.replace("/var/lib/pgwarden/node1", "/data/a,b/node1"), { env: {} });
  const p = computePermissions(c, { configPath: "/srv/n.yml", env: {}, uid: 1000, cwd: "/srv", which });
  assertThrows(() => p.toDenoFlags(), /contains a comma/);
});

Deno.test("permissions: endpoint and command parsing", () => {
  assertEquals(endpointOf("http://etcd:2379", 2379), "etcd:2379");
  assertEquals(endpointOf("https://etcd", 2379), "etcd:443");
  assertEquals(endpointOf("http://[::1]:2379", 2379), "[::1]:2379");
  assertEquals(endpointOf("zk1", 2181), "zk1:2181");
  assertEquals(executableOf("  /bin/cb.sh arg"), "/bin/cb.sh");
  assertEquals(executableOf("'/a b/c' x"), "/a b/c");
  assertEquals(executableOf('"/a b/c" x'), "/a b/c");
  assertEquals(executableOf("/a\\ b/c x"), "/a b/c");
  assertEquals(executableOf(""), undefined);
});
