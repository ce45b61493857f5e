/** PATRONI_* environment overrides: names, value parsing, precedence over YAML and TS configs. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { parseConfigObject, parsePatroniYaml } from "../../src/config/load.ts";
import { PATRONI_ENV_NAMES, patroniEnvOverlay } from "../../src/config/env.ts";
import { BASE_YAML, baseObject, DENO, REPO } from "./_helpers.ts";

const yaml = (env: Record<string, string>, text = BASE_YAML) => parsePatroniYaml(text, { env, cwd: "/srv" });

Deno.test("env: top-level, restapi and postgresql addresses override the file", () => {
  const c = yaml({
    PATRONI_SCOPE: "prod",
    PATRONI_NAME: "pg-a",
    PATRONI_NAMESPACE: "/pg",
    PATRONI_RESTAPI_LISTEN: "0.0.0.0:8100",
    PATRONI_RESTAPI_CONNECT_ADDRESS: "10.0.0.5:8100",
    PATRONI_RESTAPI_USERNAME: "admin",
    PATRONI_RESTAPI_PASSWORD: "secret",
    PATRONI_RESTAPI_CERTFILE: "/etc/ssl/api.pem",
    PATRONI_POSTGRESQL_LISTEN: "0.0.0.0:5433",
    PATRONI_POSTGRESQL_CONNECT_ADDRESS: "10.0.0.5:5433",
    PATRONI_POSTGRESQL_DATA_DIR: "pgdata",
    PATRONI_POSTGRESQL_BIN_DIR: "/usr/lib/postgresql/16/bin",
    PATRONI_POSTGRESQL_PGPASS: "/run/pgwarden/pgpass",
    PATRONI_POSTGRESQL_CONFIG_DIR: "/etc/postgresql/main",
    PATRONI_POSTGRESQL_BIN_PG_CTL: "pg_ctl.wrapper",
  });
  assertEquals([c.scope, c.name, c.namespace], ["prod", "pg-a", "/pg"]);
  assertEquals(c.restapi.listen, "0.0.0.0:8100");
  assertEquals(c.restapi.connectAddress, "10.0.0.5:8100");
  assertEquals(c.restapi.authentication, { username: "admin", password: "secret" });
  assertEquals(c.restapi.certfile, "/etc/ssl/api.pem");
  const pg = c.postgresql;
  assertEquals([pg.listen, pg.connectAddress], ["0.0.0.0:5433", "10.0.0.5:5433"]);
  assertEquals(pg.dataDir, "/srv/pgdata");
  assertEquals([pg.binDir, pg.pgpass, pg.configDir], [
    "/usr/lib/postgresql/16/bin",
    "/run/pgwarden/pgpass",
    "/etc/postgresql/main",
  ]);
  assertEquals(pg.binName.pgCtl, "pg_ctl.wrapper");
});

Deno.test("env: superuser, replication and rewind credentials with libpq options", () => {
  const c = yaml({
    PATRONI_SUPERUSER_USERNAME: "su",
    PATRONI_SUPERUSER_PASSWORD: "su-pw",
    PATRONI_REPLICATION_USERNAME: "rep",
    PATRONI_REPLICATION_PASSWORD: "rep-pw",
    PATRONI_REPLICATION_SSLMODE: "verify-full",
    PATRONI_REPLICATION_CHANNEL_BINDING: "require",
    PATRONI_REWIND_USERNAME: "rw",
    PATRONI_REWIND_PASSWORD: "rw-pw",
  });
  assertEquals(c.postgresql.authentication, {
    superuser: { username: "su", password: "su-pw" },
    replication: { username: "rep", password: "rep-pw", sslmode: "verify-full", channelBinding: "require" },
    rewind: { username: "rw", password: "rw-pw" },
  });
});

Deno.test("env: etcd3 hosts as a YAML list in Patroni's quoting, a bare list, or a dash list", () => {
  const hosts = (v: string) => yaml({ PATRONI_ETCD3_HOSTS: v }).etcd3?.hosts;
  assertEquals(hosts("'etcd1:2379','etcd2:2379','etcd3:2379'"), ["etcd1:2379", "etcd2:2379", "etcd3:2379"]);
  assertEquals(hosts("etcd1:2379,etcd2:2379"), ["etcd1:2379", "etcd2:2379"]);
  assertEquals(hosts("- etcd1:2379\n- etcd2:2379"), ["etcd1:2379", "etcd2:2379"]);
});

Deno.test("env: the legacy etcd section maps to etcd3; credentials only join an existing section", () => {
  const onlyCreds = patroniEnvOverlay({ PATRONI_ETCD3_USERNAME: "u", PATRONI_ETCD3_PASSWORD: "p" });
  assertEquals(onlyCreds.doc, {});
  const noDcs = BASE_YAML.replace("etcd3:\n  hosts: 127.0.0.1:2379\n", "");
  const c = yaml({
    PATRONI_ETCD_HOST: "10.0.0.1:2379",
    PATRONI_ETCD_PROTOCOL: "https",
    PATRONI_ETCD_USERNAME: "u",
    PATRONI_ETCD_PASSWORD: "p",
  }, noDcs);
  assertEquals(c.etcd3, { host: "10.0.0.1:2379", protocol: "https", username: "u", password: "p" });
});

Deno.test("env: consul and zookeeper sections with booleans and lists", () => {
  const noDcs = BASE_YAML.replace("etcd3:\n  hosts: 127.0.0.1:2379\n", "");
  const consul = yaml({
    PATRONI_CONSUL_HOST: "127.0.0.1:8500",
    PATRONI_CONSUL_REGISTER_SERVICE: "on",
    PATRONI_CONSUL_SERVICE_TAGS: "a,b",
    PATRONI_CONSUL_CHECKS: "[check-1]",
    PATRONI_CONSUL_VERIFY: "no",
    PATRONI_CONSUL_TOKEN: "t0k",
  }, noDcs).consul!;
  assertEquals(
    [consul.host, consul.registerService, consul.serviceTags, consul.checks, consul.verify, consul.token],
    ["127.0.0.1:8500", true, ["a", "b"], ["check-1"], false, "t0k"],
  );
  const zk = yaml({ PATRONI_ZOOKEEPER_HOSTS: "zk1:2181,zk2:2181", PATRONI_ZOOKEEPER_USE_SSL: "yes" }, noDcs)
    .zookeeper!;
  assertEquals([zk.hosts, zk.useSsl], [["zk1:2181", "zk2:2181"], true]);
});

Deno.test("env: citus group is an integer; log level (new name wins over the old one)", () => {
  const c = yaml({
    PATRONI_CITUS_GROUP: "2",
    PATRONI_CITUS_DATABASE: "citus",
    PATRONI_LOG_LEVEL: "DEBUG",
    PATRONI_LOGLEVEL: "ERROR",
    PATRONI_LOG_DIR: "/var/log/pgwarden",
  });
  assertEquals(c.citus, { group: 2, database: "citus", secondaries: true });
  assertEquals([c.log.level, c.log.dir], ["DEBUG", "/var/log/pgwarden"]);
  assertEquals(yaml({ PATRONI_LOGLEVEL: "ERROR" }).log.level, "ERROR");
});

Deno.test("env: restapi dicts and lists, ctl booleans", () => {
  const c = yaml({
    PATRONI_RESTAPI_HTTP_EXTRA_HEADERS: "X-Frame-Options: SAMEORIGIN",
    PATRONI_RESTAPI_ALLOWLIST: "127.0.0.1, 10.0.0.0/8",
    PATRONI_RESTAPI_ALLOWLIST_INCLUDE_MEMBERS: "TRUE",
    PATRONI_RESTAPI_REQUEST_QUEUE_SIZE: "10",
    PATRONI_CTL_INSECURE: "yes",
    PATRONI_CTL_USERNAME: "cli",
    PATRONI_CTL_PASSWORD: "cli-pw",
  });
  assertEquals(c.restapi.httpExtraHeaders, { "X-Frame-Options": "SAMEORIGIN" });
  assertEquals(c.restapi.allowlist, ["127.0.0.1", "10.0.0.0/8"]);
  assertEquals([c.restapi.allowlistIncludeMembers, c.restapi.requestQueueSize], [true, 10]);
  assertEquals([c.ctl.insecure, c.ctl.authentication], [true, { username: "cli", password: "cli-pw" }]);
});

Deno.test("env: empty and unrecognized variables are ignored", () => {
  const o = patroniEnvOverlay({
    PATRONI_SCOPE: "",
    PATRONI_WHATEVER: "x",
    PATRONI_KUBERNETES_LABELS: "{a: b}",
  });
  assertEquals([o.doc, o.used], [{}, []]);
});

Deno.test("env: overrides apply to TS configs too, in camelCase", () => {
  const c = parseConfigObject(baseObject(), {
    env: { PATRONI_NAME: "from-env", PATRONI_POSTGRESQL_DATA_DIR: "/data/x", PATRONI_ETCD3_HOSTS: "e1:2379" },
  });
  assertEquals([c.name, c.postgresql.dataDir, c.etcd3?.hosts], ["from-env", "/data/x", ["e1:2379"]]);
  // the rest of the section is kept (merge, not replace)
  assertEquals(c.postgresql.listen, "127.0.0.1:5432");
});

Deno.test("env: every recognized name is distinct and uppercase", () => {
  assertEquals(new Set(PATRONI_ENV_NAMES).size, PATRONI_ENV_NAMES.length);
  assertEquals(PATRONI_ENV_NAMES.every((n) => /^PATRONI_[A-Z0-9_]+$/.test(n)), true);
});

Deno.test("env: readPatroniEnv reads only the names the process was granted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/read_env.ts`;
    await Deno.writeTextFile(
      script,
      `import { readPatroniEnv } from "${REPO}/src/config/env.ts";\nconsole.log(JSON.stringify(readPatroniEnv()));\n`,
    );
    const out = await new Deno.Command(DENO, {
      args: ["run", "--config", `${REPO}/deno.json`, "--no-prompt", "--allow-env=PATRONI_SCOPE", script],
      env: { PATRONI_SCOPE: "granted", PATRONI_NAME: "not-granted" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(out.stderr), "");
    assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), { PATRONI_SCOPE: "granted" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
