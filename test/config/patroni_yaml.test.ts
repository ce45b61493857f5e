/** Patroni YAML → model: Patroni's own sample configs, and each mapping rule. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { loadConfig, parsePatroniYaml } from "../../src/config/load.ts";
import { tagsToPatroni } from "../../src/config/patroni_yaml.ts";
import { BASE_YAML, REPO } from "./_helpers.ts";

const opts = { env: {}, cwd: "/srv/pg" };
const parse = (text: string) => parsePatroniYaml(text, opts);

for (const flavor of ["debian", "upstream"]) {
  for (const n of [0, 1, 2]) {
    Deno.test(`Patroni sample ${flavor}/postgres${n}.yml loads`, async () => {
      const c = await loadConfig(`${REPO}/test/fixtures/patroni/${flavor}/postgres${n}.yml`, opts);
      assertEquals([c.name, c.scope, c.namespace], [`postgresql${n}`, "batman", "/service"]);
      assertEquals(c.etcd3?.host, "127.0.0.1:2379");
      assertEquals([c.restapi.listen, c.restapi.connectAddress], [
        `127.0.0.1:${8008 + n}`,
        `127.0.0.1:${8008 + n}`,
      ]);
      assertEquals(c.postgresql.listen, `127.0.0.1:${5432 + n}`);
      assertEquals(c.postgresql.connectAddress, `127.0.0.1:${5432 + n}`);
      assertEquals(c.postgresql.dataDir, `/srv/pg/data/postgresql${n}`);
      assertEquals(c.postgresql.pgpass, `/tmp/pgpass${n}`);
      assertEquals(c.postgresql.authentication.replication, { username: "replicator", password: "rep-pass" });
      assertEquals(c.postgresql.authentication.rewind, {
        username: "rewind_user",
        password: "rewind_password",
      });
      assertEquals(c.postgresql.parameters, { unix_socket_directories: ".." });
      const d = c.bootstrap.dcs;
      assertEquals([d.ttl, d.loopWait, d.retryTimeout, d.maximumLagOnFailover], [30, 10, 10, 1048576]);
      assertEquals(d.postgresql.usePgRewind, true);
      assertEquals(c.bootstrap.initdb, [{ encoding: "UTF8" }, "data-checksums"]);
      assertEquals(c.tags.clonefrom, false);
      assertEquals(c.tags.noloadbalance, false);
      const hba = ["host replication replicator 127.0.0.1/32 md5", "host all all 0.0.0.0/0 md5"];
      if (flavor === "debian") {
        // Patroni 3.0 samples: pg_hba and users under bootstrap.
        assertEquals(c.postgresql.pgHba, hba);
        assertEquals(c.bootstrap.users, {
          admin: { password: "admin%", options: ["createrole", "createdb"] },
        });
      } else {
        // Patroni 4 samples: pg_hba in the dynamic config.
        assertEquals(d.postgresql.pgHba, hba);
        assertEquals(c.postgresql.pgHba, undefined);
      }
      if (n === 1) assertEquals(c.postgresql.basebackup, ["verbose", { "max-rate": "100M" }]);
      if (n === 2 && flavor === "debian") assertEquals(c.tags.replicatefrom, "postgres1");
    });
  }
}

Deno.test("Patroni YAML: replica method sections, callbacks and GUC names", () => {
  const c = parse(
    BASE_YAML + `
  create_replica_methods: [pgbackrest, basebackup]
  pgbackrest:
    command: /usr/bin/pgbackrest --stanza=demo --delta restore
    keep_data: true
    no_params: true
  wal_e:
    command: patroni_wale_restore
    envdir: /etc/wal-e
    threshold_megabytes: 10240
    no_master: 1
  basebackup:
    max-rate: 100M
    checkpoint: fast
  callbacks:
    on_start: /opt/cb.sh
    on_role_change: /opt/cb.sh --verbose
  parameters:
    shared_buffers: 128MB
    auto_explain.log_min_duration: 100
    hot_standby: on
  recovery_conf:
    restore_command: cp /wal/%f %p
  use_pg_rewind: yes
  pre_promote: /opt/fence.sh
`,
  );
  const pg = c.postgresql;
  assertEquals(pg.createReplicaMethods, ["pgbackrest", "basebackup"]);
  assertEquals(pg.methods, {
    pgbackrest: {
      command: "/usr/bin/pgbackrest --stanza=demo --delta restore",
      keepData: true,
      noParams: true,
    },
    // options other than Patroni's own are passed to the command verbatim (--envdir=...)
    wal_e: {
      command: "patroni_wale_restore",
      envdir: "/etc/wal-e",
      threshold_megabytes: 10240,
      noLeader: true,
    },
  });
  assertEquals(pg.basebackup, { "max-rate": "100M", checkpoint: "fast" });
  assertEquals(pg.callbacks, { onStart: "/opt/cb.sh", onRoleChange: "/opt/cb.sh --verbose" });
  assertEquals(pg.parameters, {
    shared_buffers: "128MB",
    "auto_explain.log_min_duration": 100,
    hot_standby: true,
  });
  assertEquals(pg.recoveryConf, { restore_command: "cp /wal/%f %p" });
  assertEquals([pg.usePgRewind, pg.prePromote], [true, "/opt/fence.sh"]);
});

Deno.test("Patroni YAML: custom bootstrap method, post_init alias, users, initdb", () => {
  const c = parse(
    BASE_YAML + `
bootstrap:
  method: pitr
  pitr:
    command: /opt/restore.sh --target latest
    keep_existing_recovery_conf: true
    recovery_conf:
      recovery_target_action: promote
  post_init: /opt/post.sh
  initdb: [{encoding: UTF8}, data-checksums]
  users:
    app_owner: {password: s3cret, options: [createdb]}
`,
  );
  const b = c.bootstrap;
  assertEquals(b.method, "pitr");
  assertEquals(b.methods, {
    pitr: {
      command: "/opt/restore.sh --target latest",
      keepExistingRecoveryConf: true,
      recoveryConf: { recovery_target_action: "promote" },
    },
  });
  assertEquals(b.postBootstrap, "/opt/post.sh");
  assertEquals(b.initdb, [{ encoding: "UTF8" }, "data-checksums"]);
  assertEquals(b.users, { app_owner: { password: "s3cret", options: ["createdb"] } });
});

Deno.test("Patroni YAML: post_bootstrap wins over post_init", () => {
  const c = parse(BASE_YAML + "bootstrap:\n  post_init: /a.sh\n  post_bootstrap: /b.sh\n");
  assertEquals(c.bootstrap.postBootstrap, "/b.sh");
});

Deno.test("Patroni YAML: bootstrap.pg_hba fills postgresql.pg_hba only when that is unset", () => {
  const boot = "bootstrap:\n  pg_hba: [host all all 10.0.0.0/8 md5]\n";
  assertEquals(parse(BASE_YAML + boot).postgresql.pgHba, ["host all all 10.0.0.0/8 md5"]);
  const both = parse(BASE_YAML + "  pg_hba: [local all all trust]\n" + boot);
  assertEquals(both.postgresql.pgHba, ["local all all trust"]);
});

Deno.test("Patroni YAML: top-level dynamic keys of old configs go to bootstrap.dcs, explicit ones win", () => {
  const c = parse(
    BASE_YAML + `
ttl: 20
loop_wait: 5
retry_timeout: 5
maximum_lag_on_failover: 1000
bootstrap:
  dcs:
    loop_wait: 4
`,
  );
  const d = c.bootstrap.dcs;
  assertEquals([d.ttl, d.loopWait, d.maximumLagOnFailover], [20, 4, 1000]);
});

Deno.test("Patroni YAML: dynamic config keeps slot names and standby_cluster, maps legacy names", () => {
  const c = parse(
    BASE_YAML + `
bootstrap:
  dcs:
    master_start_timeout: 60
    master_stop_timeout: 5
    permanent_slots:
      my_Slot: {type: logical, database: app, plugin: pgoutput, cluster_type: primary}
    standby_cluster:
      host: 10.0.0.1
      port: 5432
      primary_slot_name: standby_slot
    postgresql:
      parameters: {max_wal_senders: 10}
      pg_hba: [host all all 0.0.0.0/0 md5]
`,
  );
  const d = c.bootstrap.dcs;
  assertEquals(d.primaryStartTimeout, 60);
  assertEquals(d.primaryStopTimeout, 5);
  assertEquals(d.slots, {
    my_Slot: { type: "logical", database: "app", plugin: "pgoutput", clusterType: "primary" },
  });
  assertEquals(d.standbyCluster, { host: "10.0.0.1", port: 5432, primarySlotName: "standby_slot" });
  assertEquals(d.postgresql.parameters, { max_wal_senders: 10 });
  assertEquals(d.postgresql.pgHba, ["host all all 0.0.0.0/0 md5"]);
});

Deno.test("Patroni YAML: legacy etcd section maps to etcd3; ctl, watchdog, citus", () => {
  const c = parse(
    BASE_YAML.replace(
      "etcd3:\n  hosts: 127.0.0.1:2379",
      "etcd:\n  hosts: [a:2379, b:2379]\n  protocol: https",
    ) + `
ctl:
  insecure: true
  certfile: certs/ctl.pem
watchdog:
  mode: required
  safety_margin: -1
citus:
  group: 1
  database: citus
`,
  );
  assertEquals(c.etcd3?.hosts, ["a:2379", "b:2379"]);
  assertEquals(c.etcd3?.protocol, "https");
  assertEquals(c.ctl.insecure, true);
  assertEquals(c.ctl.certfile, "/srv/pg/certs/ctl.pem");
  assertEquals([c.watchdog.mode, c.watchdog.safetyMargin], ["required", -1]);
  assertEquals(c.citus, { group: 1, database: "citus", secondaries: true });
  // Patroni bootstraps a Citus cluster with quorum commit
  assertEquals(c.bootstrap.dcs.synchronousMode, "quorum");
});

Deno.test("Patroni YAML: restapi extras keep header names", () => {
  const c = parse(BASE_YAML.replace(
    "restapi:\n",
    `restapi:
  http_extra_headers: {X-Frame-Options: SAMEORIGIN}
  allowlist: [127.0.0.1, 10.0.0.0/8]
  allowlist_include_members: true
  authentication: {username: admin, password: pw}
  certfile: /etc/ssl/api.pem
`,
  ));
  assertEquals(c.restapi.httpExtraHeaders, { "X-Frame-Options": "SAMEORIGIN" });
  assertEquals(c.restapi.allowlist, ["127.0.0.1", "10.0.0.0/8"]);
  assertEquals(c.restapi.allowlistIncludeMembers, true);
  assertEquals(c.restapi.authentication, { username: "admin", password: "pw" });
});

Deno.test("Patroni YAML: tags keep custom names, priorities become camelCase and map back", () => {
  const c = parse(
    BASE_YAML + "tags:\n  nofailover: false\n  failover_priority: 2\n  sync_priority: 0\n  my_zone: eu-1\n",
  );
  assertEquals(c.tags, { nofailover: false, failoverPriority: 2, syncPriority: 0, my_zone: "eu-1" });
  assertEquals(tagsToPatroni(c.tags), {
    nofailover: false,
    failover_priority: 2,
    sync_priority: 0,
    my_zone: "eu-1",
  });
});

Deno.test("Patroni YAML: log keys (type → format, Python format → lineFormat, WARN → WARNING)", () => {
  const c = parse(
    BASE_YAML + `
log:
  type: json
  level: WARN
  format: ["asctime", {levelname: level}, message]
  dir: logs
  file_num: 10
  loggers: {patroni.postmaster: WARNING}
`,
  );
  assertEquals(c.log.format, "json");
  assertEquals(c.log.level, "WARNING");
  assertEquals(c.log.lineFormat, ["asctime", { levelname: "level" }, "message"]);
  assertEquals(c.log.dir, "/srv/pg/logs");
  assertEquals(c.log.fileNum, 10);
  assertEquals(c.log.loggers, { "patroni.postmaster": "WARNING" });
  assertEquals(parse(BASE_YAML + "log:\n  type: plain\n").log.format, "patroni");
});

Deno.test("Patroni YAML: booleans follow PyYAML (on/off/yes/no, but not y/n)", () => {
  const c = parse(
    BASE_YAML.replace("name: node1", "name: n") + "tags:\n  nofailover: off\n  noloadbalance: Yes\n",
  );
  assertEquals(c.name, "n");
  assertEquals([c.tags.nofailover, c.tags.noloadbalance], [false, true]);
});

Deno.test("Patroni YAML: the pre-1.0 layout (credentials and name under postgresql)", () => {
  const c = parse(
    BASE_YAML.replace("name: node1\n", "") + `
  name: legacy
  replication: {username: rep, password: r}
  superuser: {username: su, password: s}
`,
  );
  assertEquals(c.name, "legacy");
  assertEquals(c.postgresql.authentication.replication, { username: "rep", password: "r" });
  assertEquals(c.postgresql.authentication.superuser, { username: "su", password: "s" });
});

Deno.test("Patroni YAML: an empty value means unset outside the dynamic config", () => {
  const c = parse(BASE_YAML + "  bin_dir:\n  config_dir:\nwatchdog:\n");
  assertEquals(c.postgresql.binDir, "/usr/lib/postgresql/15/bin");
  assertEquals(c.postgresql.configDir, undefined);
  assertEquals(c.watchdog.mode, "automatic");
});
