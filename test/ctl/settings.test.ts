/** Loading the ctl's settings: agent configs, ctl-only files, TS modules, env, --dcs-url, defaults. */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { CtlConfigError, dcsConfigFor, defaultConfigPath, loadCtlSettings } from "../../src/ctl/settings.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("an agent's Patroni YAML gives scope, DCS and the superuser", async () => {
  const s = await loadCtlSettings({ configFile: `${ROOT}test/fixtures/patroni/upstream/postgres0.yml` }, {});
  assert.equal(s.scope, "batman");
  assert.ok(s.dcsConfigured);
  assert.ok(s.config.etcd3);
  assert.deepEqual(s.superuser, { username: "postgres", password: "patroni" });
  assert.equal(s.restAuth, undefined);
  const c = dcsConfigFor(s, "other", undefined);
  assert.equal(c.scope, "other");
  assert.equal(c.name, "pgwarden-ctl");
});

Deno.test("ctl-only YAML and TS files; ctl.authentication wins over restapi's; -k and ctl.cacert", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctl-settings-" });
  try {
    await Deno.writeTextFile(
      `${dir}/ctl.yaml`,
      "scope: s1\nnamespace: /ns\nconsul:\n  host: 127.0.0.1:8500\nrestapi:\n  authentication: {username: r, password: rp}\n" +
        "  cafile: ca.pem\nctl:\n  authentication: {username: c, password: cp}\n",
    );
    const y = await loadCtlSettings({ configFile: "ctl.yaml", insecure: true }, {}, dir);
    assert.equal(y.scope, "s1");
    assert.equal(y.config.namespace, "/ns");
    assert.ok(y.config.consul);
    assert.deepEqual(y.restAuth, { username: "c", password: "cp" });
    assert.deepEqual(y.tls, { cacert: `${dir}/ca.pem`, insecure: true });

    await Deno.writeTextFile(
      `${dir}/ctl.ts`,
      'export default { scope: "s2", etcd3: { hosts: ["10.0.0.1:2379"] } };\n',
    );
    const t = await loadCtlSettings({ configFile: `${dir}/ctl.ts` }, {});
    assert.equal(t.scope, "s2");
    assert.deepEqual(t.config.etcd3?.hosts, ["10.0.0.1:2379"]);

    // --dcs-url replaces the file's DCS section; DCS_URL does the same from the environment.
    const u = await loadCtlSettings(
      { configFile: `${dir}/ctl.ts`, dcsUrl: "zookeeper://zk1:2181/other" },
      {},
    );
    assert.equal(u.config.etcd3, undefined);
    assert.deepEqual(u.config.zookeeper?.hosts, ["zk1:2181"]);
    assert.equal(u.config.namespace, "/other");
    const e = await loadCtlSettings({}, { DCS_URL: "127.0.0.1:8500", HOME: dir });
    assert.equal(e.config.consul?.host, "127.0.0.1:8500");
    assert.equal(e.scope, undefined);

    // PATRONICTL_CONFIG_FILE names the file; PATRONI_* variables override it.
    const env = await loadCtlSettings({}, {
      PATRONICTL_CONFIG_FILE: `${dir}/ctl.yaml`,
      PATRONI_SCOPE: "fromenv",
    });
    assert.equal(env.scope, "fromenv");

    await Deno.writeTextFile(`${dir}/bad.yaml`, "scope: s\netcd3:\n  hosts: [nohostport]\nttl: x\n");
    await assert.rejects(loadCtlSettings({ configFile: `${dir}/bad.yaml` }, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.source, `${dir}/bad.yaml`);
      assert.match(err.message, /etcd3\.hosts/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no file: the default path may be absent, an explicit one may not; no DCS fails only when used", async () => {
  assert.equal(defaultConfigPath({ HOME: "/home/u" }), "/home/u/.config/patroni/patronictl.yaml");
  assert.equal(defaultConfigPath({ HOME: "/home/u", XDG_CONFIG_HOME: "/x" }), "/x/patroni/patronictl.yaml");
  const s = await loadCtlSettings({}, { HOME: "/nonexistent" });
  assert.equal(s.source, null);
  assert.equal(s.dcsConfigured, false);
  assert.throws(() => dcsConfigFor(s, "c", undefined), CtlConfigError);
  await assert.rejects(
    loadCtlSettings({}, { PATRONICTL_CONFIG_FILE: "/nonexistent/x.yaml" }),
    /Provided config file \/nonexistent\/x\.yaml not existing or no read rights/,
  );
});
