/** Etcd3Dcs with etcd password auth and with TLS (server verification and client certificates). */
import assert from "node:assert/strict";
import { Etcd3 } from "etcd3";
import { Etcd3Dcs, type Etcd3Settings } from "../../src/dcs/etcd3.ts";
import { DcsUnavailableError } from "../../src/dcs/errors.ts";
import { startEtcd } from "../helpers/etcd.ts";
import { makeTestCerts } from "../helpers/tls.ts";

const timings = { ttlS: 6, loopWaitS: 1, retryTimeoutS: 2 };
const BOUND_MS = timings.retryTimeoutS * 1000 + 500;

function client(settings: Etcd3Settings, name = "a") {
  return new Etcd3Dcs(settings, { namespace: "/service", scope: "sec", name, ...timings });
}

/** The client works: takes the lock and reads it back. */
async function works(settings: Etcd3Settings) {
  const dcs = client(settings);
  try {
    await dcs.deleteCluster();
    assert.equal(await dcs.attemptToAcquireLeader(), true);
    assert.equal((await dcs.getCluster()).leader?.name, "a");
    await dcs.deleteCluster();
  } finally {
    await dcs.close();
  }
}

/** The client is refused: every call fails closed within retry_timeout. */
async function refused(settings: Etcd3Settings, what: string) {
  const dcs = client(settings, "intruder");
  try {
    for (const op of [() => dcs.getCluster(), () => dcs.attemptToAcquireLeader()]) {
      const t0 = Date.now();
      await assert.rejects(op, DcsUnavailableError, what);
      assert.ok(Date.now() - t0 <= BOUND_MS, `${what}: took ${Date.now() - t0} ms`);
    }
  } finally {
    await dcs.close();
  }
}

Deno.test({
  name: "etcd3: username/password auth",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const etcd = await startEtcd();
    const admin = new Etcd3({ hosts: [etcd.endpoint] });
    try {
      const root = await admin.role("root").create();
      await admin.user("root").create("root-pw");
      await admin.user("root").addRole(root);
      await admin.auth.authEnable({});
      await works({ hosts: [etcd.endpoint], username: "root", password: "root-pw" });
      await refused({ hosts: [etcd.endpoint], username: "root", password: "wrong" }, "wrong password");
      await refused({ hosts: [etcd.endpoint] }, "no credentials");
    } finally {
      admin.close();
      await etcd.stop();
    }
  },
});

Deno.test({
  name: "etcd3: TLS with server verification and client certificates",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pgwarden-tls-" });
    try {
      const c = await makeTestCerts(dir);
      const etcd = await startEtcd({
        tls: {
          caFile: c.caFile,
          certFile: c.serverCertFile,
          keyFile: c.serverKeyFile,
          clientCertAuth: true,
          clientCertFile: c.clientCertFile,
          clientKeyFile: c.clientKeyFile,
        },
      });
      try {
        const base = { hosts: [etcd.endpoint], protocol: "https" as const };
        await works({ ...base, cacert: c.caFile, cert: c.clientCertFile, key: c.clientKeyFile });
        // `url` with an https scheme implies TLS as well.
        await works({
          url: `https://${etcd.endpoint}`,
          cacert: c.caFile,
          cert: c.clientCertFile,
          key: c.clientKeyFile,
        });
        await refused({ ...base, cacert: c.caFile }, "no client certificate");
        await refused(
          { ...base, cacert: c.otherCaFile, cert: c.clientCertFile, key: c.clientKeyFile },
          "server certificate from an unknown CA",
        );
        await refused({ hosts: [etcd.endpoint] }, "plain HTTP to a TLS endpoint");
      } finally {
        await etcd.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
