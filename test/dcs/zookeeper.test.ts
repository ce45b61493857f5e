/**
 * ZooKeeper backend specifics beyond the shared contract, on a real ZooKeeper 3.8: ephemeral nodes and
 * session timeout = ttl, renewal without writes, leader release by ending the session, `{}` for a deleted
 * sync key, session moves on ttl change, hung servers and expired sessions.
 */
import assert from "node:assert/strict";
import { ConfigSchema } from "../../src/config/schema.ts";
import { ZkSession } from "../../src/dcs/_zk_session.ts";
import { DcsUnavailableError } from "../../src/dcs/errors.ts";
import type { DcsOptions } from "../../src/dcs/types.ts";
import { ZooKeeperDcs } from "../../src/dcs/zookeeper.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp_proxy.ts";
import { fourLetter, startZooKeeper, type ZooKeeperServer } from "../helpers/zookeeper.ts";

const timings = { ttlS: 4, loopWaitS: 1, retryTimeoutS: 1.5 };
const MEMBER = { conn_url: "postgres://127.0.0.1:5432/postgres", api_url: "http://127.0.0.1:8008/patroni" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const attempt = () => ({ n: 1, timeoutMs: 5000, signal: AbortSignal.timeout(5000) });

interface Ctx {
  zk: ZooKeeperServer;
  proxy: TcpProxy;
  raw: ZkSession;
  dir: string;
  client(name: string, o?: Partial<DcsOptions>): ZooKeeperDcs;
}

/** The client library keeps sockets and timers beyond a test; the file's last test stops the server. */
function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

let shared: Promise<{ zk: ZooKeeperServer; raw: ZkSession }> | null = null;
/** One ZooKeeper for the whole file (stopped by the last test). */
function server() {
  shared ??= (async () => {
    const zk = await startZooKeeper({ minSessionTimeoutMs: 1000 });
    const raw = new ZkSession(zk.endpoint, 30_000, () => {});
    await raw.waitConnected(10_000);
    return { zk, raw };
  })();
  return shared;
}

async function withZk(fn: (c: Ctx) => Promise<void>): Promise<void> {
  const { zk, raw } = await server();
  const proxy = startTcpProxy({ port: zk.port });
  const scope = `zk-${crypto.randomUUID().slice(0, 8)}`;
  const config = ConfigSchema.parse({
    name: "test",
    scope,
    zookeeper: { hosts: [proxy.endpoint] },
    restapi: { listen: "127.0.0.1:8008" },
    postgresql: { listen: "127.0.0.1:5432", dataDir: "/nonexistent" },
  });
  const clients: ZooKeeperDcs[] = [];
  try {
    await fn({
      zk,
      proxy,
      raw,
      dir: `/service/${scope}`,
      client(name, o = {}) {
        const c = new ZooKeeperDcs(config, { namespace: "/service", scope, name, ...timings, ...o });
        clients.push(c);
        return c;
      },
    });
  } finally {
    zk.resume();
    proxy.restore();
    await Promise.all(clients.map((c) => c.close()));
    await proxy.close();
  }
}

/** `cons` lists every connection with its session id and negotiated timeout. */
async function sessionTimeouts(zk: ZooKeeperServer): Promise<Map<string, number>> {
  const out = await fourLetter(zk.port, "cons");
  const m = new Map<string, number>();
  for (const [, sid, to] of out.matchAll(/sid=0x([0-9a-f]+).*?to=(\d+)/g)) {
    m.set(sid!.padStart(16, "0"), Number(to));
  }
  return m;
}

test("zookeeper: leader and member are ephemeral nodes of one session whose timeout is ttl", () =>
  withZk(async ({ zk, raw, dir, client }) => {
    const a = client("node1");
    assert.equal(await a.touchMember(MEMBER), true);
    assert.equal(await a.attemptToAcquireLeader(), true);
    const leader = await raw.getData(`${dir}/leader`, attempt());
    const member = await raw.getData(`${dir}/members/node1`, attempt());
    assert.equal(leader?.data, "node1");
    assert.equal(leader?.owner, a.sessionId);
    assert.equal(member?.owner, a.sessionId);
    assert.equal((await sessionTimeouts(zk)).get(a.sessionId!), 4000);
  }));

test("zookeeper: renewing the leader reads one node and writes nothing", () =>
  withZk(async ({ raw, dir, client }) => {
    const a = client("node1");
    assert.equal(await a.attemptToAcquireLeader(), true);
    const before = await raw.getData(`${dir}/leader`, attempt());
    const s = await a.getCluster();
    const n = a.requestCount;
    for (let i = 0; i < 3; i++) assert.equal(await a.updateLeader(s.leader), true);
    assert.equal(a.requestCount - n, 3, "one read per renewal");
    assert.deepEqual(await raw.getData(`${dir}/leader`, attempt()), before, "node untouched");
  }));

test("zookeeper: deleting the leader ends the session, dropping the member node too", () =>
  withZk(async ({ raw, dir, client }) => {
    const a = client("node1");
    assert.equal(await a.touchMember(MEMBER), true);
    assert.equal(await a.attemptToAcquireLeader(), true);
    const old = a.sessionId;
    const s = await a.getCluster();
    assert.equal(await a.deleteLeader(s.leader), true);
    assert.equal(await raw.getData(`${dir}/leader`, attempt()), null);
    assert.equal(await raw.getData(`${dir}/members/node1`, attempt()), null);
    assert.equal(await a.touchMember(MEMBER), true, "the next write opens a new session");
    assert.notEqual(a.sessionId, old);
    assert.equal((await raw.getData(`${dir}/members/node1`, attempt()))?.owner, a.sessionId);
  }));

test("zookeeper: deleting the sync key writes {} (with CAS)", () =>
  withZk(async ({ raw, dir, client }) => {
    const a = client("node1");
    const v = await a.setSyncState({ leader: "node1", sync_standby: "node2" });
    assert.equal(v, "0");
    assert.equal(await a.deleteSyncState("7"), false);
    assert.equal(await a.deleteSyncState(v!), true);
    assert.equal((await raw.getData(`${dir}/sync`, attempt()))?.data, "{}");
  }));

test("zookeeper: a ttl change moves our nodes to a new session with the new timeout", () =>
  withZk(async ({ zk, raw, dir, client }) => {
    const a = client("node1");
    assert.equal(await a.touchMember(MEMBER), true);
    assert.equal(await a.attemptToAcquireLeader(), true);
    const old = a.sessionId!;
    a.setTimings({ ...timings, ttlS: 6 });
    const s = await a.getCluster();
    assert.notEqual(a.sessionId, old);
    assert.equal(s.leader?.session, a.sessionId, "leader moved");
    assert.equal(s.members[0]?.session, a.sessionId, "member moved");
    assert.equal((await raw.getData(`${dir}/leader`, attempt()))?.owner, a.sessionId);
    const timeouts = await sessionTimeouts(zk);
    assert.equal(timeouts.get(a.sessionId!), 6000);
    assert.equal(timeouts.has(old), false, "the old session is closed");
    assert.equal(await a.updateLeader(s.leader), true);
  }));

test("zookeeper: a hung server fails operations within retry_timeout; the session survives a short hang", () =>
  withZk(async ({ zk, client }) => {
    const a = client("node1");
    assert.equal(await a.touchMember(MEMBER), true);
    const sid = a.sessionId;
    zk.pause();
    try {
      const t0 = Date.now();
      await assert.rejects(a.getCluster(), DcsUnavailableError);
      const took = Date.now() - t0;
      assert.ok(took <= timings.retryTimeoutS * 1000 + 500, `took ${took} ms`);
    } finally {
      zk.resume();
    }
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      ok = await a.touchMember({ ...MEMBER, state: "running" }).catch(() => false);
      if (!ok) await sleep(200);
    }
    assert.ok(ok, "recovered after the server resumed");
    assert.equal(a.sessionId, sid, "same session");
  }));

test("zookeeper: an expired session is replaced and our nodes are recreated", () =>
  withZk(async ({ proxy, raw, dir, client }) => {
    const a = client("node1", { ttlS: 2, retryTimeoutS: 1 });
    assert.equal(await a.touchMember(MEMBER), true);
    const sid = a.sessionId;
    proxy.blackhole(); // ZooKeeper hears nothing and expires the session after 2 s
    await sleep(3000);
    assert.equal(await raw.getData(`${dir}/members/node1`, attempt()), null, "expired with its session");
    proxy.restore();
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      ok = await a.touchMember(MEMBER).catch(() => false);
      if (!ok) await sleep(200);
    }
    assert.ok(ok, "touchMember works again");
    assert.notEqual(a.sessionId, sid);
    assert.equal((await raw.getData(`${dir}/members/node1`, attempt()))?.owner, a.sessionId);
  }));

test("zookeeper: stop the shared server", async () => {
  if (!shared) return;
  const { zk, raw } = await shared;
  await raw.close(2000);
  await zk.stop();
  shared = null;
});
