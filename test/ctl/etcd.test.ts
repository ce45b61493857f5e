/**
 * The ctl as a process against a real etcd holding a cluster written by pgwarden's etcd3 client, side by side
 * with Debian's patronictl 3.0.2 on the same keys: both must read the same cluster, and a change made by one
 * must be seen by the other.
 */
import { freePort } from "../helpers/ports.ts";
import assert from "node:assert/strict";
import { Etcd3Dcs } from "../../src/dcs/etcd3.ts";
import type { Dcs, MemberData } from "../../src/dcs/types.ts";
import { startEtcd } from "../helpers/etcd.ts";
import { hasPatronictl, parseListJson, runCtlProcess, runPatronictl } from "./run_ctl.ts";

Deno.test({
  name: "ctl and patronictl agree on a cluster in etcd, and see each other's changes",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const etcd = await startEtcd();
    const dir = await Deno.makeTempDir({ prefix: "ctl-etcd-" });
    const agents: Dcs[] = [];
    try {
      const apiPort = freePort(); // nothing listens: every REST call fails, as with agents that are down
      const seed = async (name: string, data: MemberData) => {
        const d = new Etcd3Dcs({ hosts: [etcd.endpoint] }, {
          namespace: "/service",
          scope: "gotham",
          name,
          ttlS: 30,
          loopWaitS: 10,
          retryTimeoutS: 10,
        });
        agents.push(d);
        assert.ok(await d.touchMember(data));
        return d;
      };
      const base = (port: number, extra: MemberData): MemberData => ({
        conn_url: `postgres://127.0.0.1:${port}/postgres`,
        api_url: `http://127.0.0.1:${apiPort}/patroni`,
        state: "running",
        role: "replica",
        timeline: 3,
        ...extra,
      });
      const leader = await seed("alpha", base(5432, { role: "primary", xlog_location: 83886080 }));
      await seed("beta", base(5433, { xlog_location: 83886080 - 2 * 1048576, tags: { nofailover: true } }));
      await seed("gamma", base(5434, { xlog_location: 83886080 }));
      assert.ok(await leader.initialize(true, "7300000000000000001"));
      assert.ok(await leader.attemptToAcquireLeader());
      assert.ok(await leader.setConfigValue(JSON.stringify({ ttl: 30, loop_wait: 10, retry_timeout: 10 })));
      assert.ok(
        await leader.setHistoryValue(
          JSON.stringify([
            [1, 25165984, "no recovery target specified", "2030-01-01T00:00:00+00:00", "alpha"],
            [2, 50331808, "no recovery target specified"],
          ]),
        ),
      );
      await leader.writeStatus({ optime: 83886080 });

      const cfg = `${dir}/patronictl.yaml`;
      await Deno.writeTextFile(
        cfg,
        `scope: gotham\nnamespace: /service\netcd3:\n  hosts: ${etcd.endpoint}\n`,
      );

      const ours = await runCtlProcess(["list", "-f", "json"], { config: cfg });
      assert.equal(ours.code, 0, ours.stderr);
      const rows = parseListJson(ours.stdout);
      assert.deepEqual(rows.map((r) => [r.Member, r.Role, r.TL, r["Lag in MB"]]), [
        ["alpha", "Leader", 3, undefined],
        ["beta", "Replica", 3, 2],
        ["gamma", "Replica", 3, 0],
      ]);
      const pretty = await runCtlProcess(["list"], { config: cfg });
      assert.match(pretty.stdout, /^\+ Cluster: gotham \(7300000000000000001\) /);

      const usage = await runCtlProcess(["list", "-f", "xml"], { config: cfg });
      assert.equal(usage.code, 2);
      const noDcs = await runCtlProcess(["-d", "127.0.0.1:1", "list", "x"], { timeoutMs: 60_000 });
      assert.equal(noDcs.code, 1);
      assert.match(noDcs.stderr, /Error: DCS is not accessible \(etcd3 127\.0\.0\.1:1\)/);

      // pause: no API answers, so the flag goes straight into the DCS.
      const pause = await runCtlProcess(["pause"], { config: cfg });
      assert.equal(pause.code, 0, pause.stderr);
      assert.match(pause.stdout, /Success: cluster management is paused/);

      if (!(await hasPatronictl())) return;
      const theirs = await runPatronictl(["list", "-f", "json"], { config: cfg });
      assert.equal(theirs.code, 0, theirs.stderr);
      assert.deepEqual(rows, parseListJson(theirs.stdout), "same rows as patronictl");
      const theirsPretty = await runPatronictl(["list"], { config: cfg });
      assert.match(theirsPretty.stdout, /Maintenance mode: on/, "patronictl sees our pause");
      for (const args of [["history", "-f", "json"], ["show-config"], ["dsn"], ["dsn", "-r", "replica"]]) {
        const a = await runCtlProcess(args, { config: cfg });
        const b = await runPatronictl(args, { config: cfg });
        assert.equal(a.code, 0, a.stderr);
        assert.equal(a.stdout, b.stdout, args.join(" "));
      }

      // Their edit, our read; our edit, their read.
      const edit = await runPatronictl(["edit-config", "--set", "loop_wait=5", "--force"], { config: cfg });
      assert.equal(edit.code, 0, edit.stderr);
      assert.match((await runCtlProcess(["show-config"], { config: cfg })).stdout, /^loop_wait: 5$/m);
      const ourEdit = await runCtlProcess(["edit-config", "--pg", "work_mem=8MB", "--force", "-q"], {
        config: cfg,
      });
      assert.equal(ourEdit.code, 0, ourEdit.stderr);
      assert.match((await runPatronictl(["show-config"], { config: cfg })).stdout, /^ {4}work_mem: 8MB$/m);
      const resume = await runCtlProcess(["resume"], { config: cfg });
      assert.equal(resume.code, 0, resume.stderr);
      assert.doesNotMatch((await runPatronictl(["list"], { config: cfg })).stdout, /Maintenance mode/);
    } finally {
      for (const a of agents) await a.close();
      await etcd.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
