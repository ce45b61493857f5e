/**
 * Invalid configurations, YAML and TS objects: every problem is reported at once, as
 * `<path in the user's spelling>: <expected>, got <value>`.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { parseConfigObject, parsePatroniYaml } from "../../src/config/load.ts";
import type { Env } from "../../src/config/env.ts";
import { BASE_YAML as B, baseObject, issuesOf } from "./_helpers.ts";

type Case = [name: string, run: () => unknown, expected: string[]];

const yaml = (text: string, env: Env = {}) => () => parsePatroniYaml(text, { env });
/** Edit a copy of the valid base object (return a value to replace it wholesale). */
// deno-lint-ignore no-explicit-any
const obj = (edit: (c: any) => unknown, env: Env = {}) => () => {
  const c = baseObject();
  const replaced = edit(c);
  return parseConfigObject(replaced === undefined ? c : replaced, { env });
};
const onlyZk = (zk: string) => B.replace("etcd3:\n  hosts: 127.0.0.1:2379", zk);

const cases: Case[] = [
  ["a misspelt key is rejected with the nearest valid key", yaml(B.replace("data_dir:", "data_dri:")), [
    "postgresql.data_dir: required, expected a string",
    'postgresql.data_dri: unknown key, did you mean "data_dir"?',
  ]],
  ["postgresql.listen needs a host", yaml(B.replace("listen: 127.0.0.1:5432", 'listen: "5432"')), [
    'postgresql.listen: expected "host:port", got "5432"',
  ]],
  ["a misspelt top-level section suggests Patroni's name", yaml(B.replace("etcd3:", "etdc:")), [
    'etdc: unknown key, did you mean "etcd"?',
    "(root): no DCS configured: expected one of etcd3, consul, zookeeper",
  ]],
  ["two DCS sections", yaml(B + "consul:\n  host: 127.0.0.1:8500\n"), [
    "consul: only one DCS may be configured, found etcd3, consul",
  ]],
  ["etcd and etcd3 both given", yaml(B + "etcd:\n  host: 127.0.0.1:2379\n"), [
    "etcd3: only one DCS may be configured, found etcd, etcd3",
  ]],
  ["an unsupported DCS", yaml(B + "kubernetes:\n  labels: {app: x}\n"), [
    "kubernetes: unsupported DCS, expected one of etcd, etcd3, consul, zookeeper",
  ]],
  [
    "ttl below the minimum",
    yaml(B + "bootstrap:\n  dcs:\n    ttl: 2\n    loop_wait: 1\n    retry_timeout: 1\n"),
    [
      "bootstrap.dcs.ttl: expected a number >= 4, got 2",
      "bootstrap.dcs.ttl: expected loop_wait + 2*retry_timeout <= ttl, got 1 + 2*1 = 3 > 2",
    ],
  ],
  [
    "inconsistent timings",
    yaml(B + "bootstrap:\n  dcs:\n    ttl: 10\n    loop_wait: 5\n    retry_timeout: 3\n"),
    [
      "bootstrap.dcs.ttl: expected loop_wait + 2*retry_timeout <= ttl, got 5 + 2*3 = 11 > 10",
    ],
  ],
  ["a misspelt bootstrap.dcs key", yaml(B + "bootstrap:\n  dcs:\n    loop_wiat: 5\n"), [
    'bootstrap.dcs.loop_wiat: unknown key, did you mean "loop_wait"?',
  ]],
  ["synchronous_mode value", yaml(B + "bootstrap:\n  dcs:\n    synchronous_mode: maybe\n"), [
    'bootstrap.dcs.synchronous_mode: expected a boolean or one of "on", "off", "quorum", "true", "false", ' +
    'got "maybe"',
  ]],
  ["log.level value", yaml(B + "log:\n  level: LOUD\n"), [
    'log.level: expected one of "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL", got "LOUD"',
  ]],
  ["log.type value (Patroni's plain/json)", yaml(B + "log:\n  type: xml\n"), [
    'log.type: expected one of "plain", "json", got "xml"',
  ]],
  ["tags.failover_priority type", yaml(B + "tags:\n  failover_priority: high\n"), [
    'tags.failover_priority: expected a number, got "high"',
  ]],
  ["watchdog.mode value", yaml(B + "watchdog:\n  mode: sometimes\n"), [
    'watchdog.mode: expected one of "off", "disable", "disabled", "automatic", "auto", "required", "require", ' +
    'got "sometimes"',
  ]],
  ["restapi.listen missing", yaml(B.replace("  listen: 127.0.0.1:8008\n", "")), [
    'restapi.listen: required, expected "host:port"',
  ]],
  [
    "REST authentication without password",
    yaml(B.replace("restapi:\n", "restapi:\n  authentication:\n    username: a\n")),
    [
      "restapi.authentication.password: required, expected a string",
    ],
  ],
  ["a GUC given a mapping", yaml(B + "  parameters:\n    max_connections: {a: 1}\n"), [
    'postgresql.parameters.max_connections: expected a string, a number or a boolean, got {"a":1}',
  ]],
  ["pg_hba as a string", yaml(B + "  pg_hba: host all all\n"), [
    'postgresql.pg_hba: expected a list, got "host all all"',
  ]],
  ["a ZooKeeper host without port", yaml(onlyZk("zookeeper:\n  hosts: [127.0.0.1:2181, zk2]")), [
    'zookeeper.hosts[1]: expected "host:port", got "zk2"',
  ]],
  ["camelCase keys are not Patroni YAML", yaml(B.replace("data_dir:", "dataDir:")), [
    'postgresql.dataDir: unknown key, did you mean "data_dir"?',
    "postgresql.data_dir: required, expected a string",
  ]],
  ["citus group and database", yaml(B + "citus:\n  group: -1\n"), [
    "citus.group: expected a number >= 0, got -1",
    "citus.database: required, expected a string",
  ]],
  ["a document that is not a mapping", yaml("- a\n"), ['(root): expected a mapping, got ["a"]']],
  ["a duplicate key", yaml(B + "scope: other\n"), ["line 13, column 1: Map keys must be unique"]],
  ["an empty name", yaml(B.replace("name: node1", 'name: ""')), [
    'name: expected a non-empty string, got ""',
  ]],
  [
    "bootstrap user options as a string",
    yaml(B + "bootstrap:\n  users:\n    admin:\n      options: createdb\n"),
    [
      'bootstrap.users.admin.options: expected a list, got "createdb"',
    ],
  ],
  ["consul consistency value", yaml(onlyZk("consul:\n  host: 127.0.0.1:8500\n  consistency: weak")), [
    'consul.consistency: expected one of "default", "consistent", "stale", got "weak"',
  ]],
  ["restapi.verify_client value", yaml(B.replace("restapi:\n", "restapi:\n  verify_client: sometimes\n")), [
    'restapi.verify_client: expected one of "none", "optional", "required", got "sometimes"',
  ]],
  ["superuser without username", yaml(B + "  authentication:\n    superuser:\n      password: x\n"), [
    "postgresql.authentication.superuser.username: required, expected a string",
  ]],
  ["create_replica_methods as a string", yaml(B + "  create_replica_methods: basebackup\n"), [
    'postgresql.create_replica_methods: expected a list, got "basebackup"',
  ]],
  ["initdb as a mapping", yaml(B + "bootstrap:\n  initdb:\n    encoding: UTF8\n"), [
    'bootstrap.initdb: expected a list, got {"encoding":"UTF8"}',
  ]],
  ["a misspelt callback", yaml(B + "  callbacks:\n    on_strat: /bin/true\n"), [
    'postgresql.callbacks.on_strat: unknown key, did you mean "on_start"?',
  ]],
  ["a legacy top-level ttl is reported where it was written", yaml(B + "ttl: thirty\n"), [
    'ttl: expected a number, got "thirty"',
  ]],
  ["bootstrap.pg_hba type", yaml(B + "bootstrap:\n  pg_hba: 5\n"), [
    "bootstrap.pg_hba: expected a list, got 5",
  ]],
  [
    "several problems at once",
    yaml(
      B.replace("data_dir:", "data_dri:").replace("listen: 127.0.0.1:8008", "listen: 8008") +
        "log:\n  level: LOUD\ntags:\n  nofailover: 3\n",
    ),
    [
      'log.level: expected one of "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL", got "LOUD"',
      'restapi.listen: expected "host:port", got 8008',
      "postgresql.data_dir: required, expected a string",
      'postgresql.data_dri: unknown key, did you mean "data_dir"?',
      "tags.nofailover: expected a boolean, got 3",
    ],
  ],
  ["an env override that is not a number", yaml(B, { PATRONI_CITUS_GROUP: "abc" }), [
    'citus.group (from PATRONI_CITUS_GROUP): expected a number, got "abc"',
    "citus.database: required, expected a string",
  ]],
  ["an env override that is not a boolean", yaml(B, { PATRONI_RESTAPI_ALLOWLIST_INCLUDE_MEMBERS: "maybe" }), [
    'restapi.allowlist_include_members (from PATRONI_RESTAPI_ALLOWLIST_INCLUDE_MEMBERS): expected a boolean, got "maybe"',
  ]],
  [
    "TS: a misspelt key, in camelCase",
    obj((c) => {
      c.postgresql.dataDri = c.postgresql.dataDir;
      delete c.postgresql.dataDir;
    }),
    [
      "postgresql.dataDir: required, expected a string",
      'postgresql.dataDri: unknown key, did you mean "dataDir"?',
    ],
  ],
  ["TS: restapi.conectAddress", obj((c) => void (c.restapi.conectAddress = "127.0.0.1:8008")), [
    'restapi.conectAddress: unknown key, did you mean "connectAddress"?',
  ]],
  ["TS: a default export that is not an object", obj(() => [1]), ["(root): expected an object, got [1]"]],
  ["TS: ttl as a string", obj((c) => void (c.bootstrap = { dcs: { ttl: "10" } })), [
    'bootstrap.dcs.ttl: expected a number, got "10"',
  ]],
  ["TS: an etcd3 section without endpoints", obj((c) => void (c.etcd3 = {})), [
    "etcd3: expected host, hosts or url",
  ]],
  ["TS: a tag of the wrong type", obj((c) => void (c.tags = { nofailover: "yes" })), [
    'tags.nofailover: expected a boolean, got "yes"',
  ]],
  ["TS: a key at the wrong level lists the valid ones", obj((c) => void (c.usePgRewind = true)), [
    "usePgRewind: unknown key, expected one of name, scope, namespace, observeOnly, log, etcd3, consul, " +
    "zookeeper, memory, restapi, ctl, postgresql, bootstrap, watchdog, tags, citus, plugins, permissions",
  ]],
  ["TS: an env override names its variable", obj(() => undefined, { PATRONI_POSTGRESQL_LISTEN: "5432" }), [
    'postgresql.listen (from PATRONI_POSTGRESQL_LISTEN): expected "host:port", got "5432"',
  ]],
  ["TS: no DCS", obj((c) => void delete c.etcd3), [
    "(root): no DCS configured: expected one of etcd3, consul, zookeeper",
  ]],
  ["TS: etcd3.hosts of the wrong type", obj((c) => void (c.etcd3 = { hosts: 5 })), [
    "etcd3.hosts: expected a string or an array, got 5",
  ]],
  [
    "TS: a plugin entry that is neither an instance nor a module reference",
    obj((c) => void (c.plugins = [{}])),
    [
      "plugins[0]: expected a plugin instance (with a name) or a {module, config, grant} entry",
    ],
  ],
  ["TS: extra permissions of the wrong type", obj((c) => void (c.permissions = { net: "x" })), [
    'permissions.net: expected an array, got "x"',
  ]],
];

for (const [name, run, expected] of cases) {
  Deno.test(`invalid config: ${name}`, async () => {
    assertEquals(await issuesOf(run), expected);
  });
}

Deno.test("invalid config: the case table has at least 30 distinct inputs", () => {
  assertEquals(new Set(cases.map((c) => c[0])).size, cases.length);
  assertEquals(cases.length >= 30, true);
});
