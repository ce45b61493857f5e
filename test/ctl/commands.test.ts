/**
 * The ctl commands end to end in-process: real command parsing, the real in-memory DCS seeded like agents
 * leave it, a fake REST API recording each call, scripted answers to prompts.
 */
import assert from "node:assert/strict";
import { ctlConfigFile, FakeApi, memberData, MemoryStore, runCtl, seedCluster } from "./harness.ts";

const HISTORY: [number, number, string, string, string][] = [
  [1, 25165984, "no recovery target specified", "2030-01-01T00:00:00+00:00", "node2"],
];

async function batman(store: MemoryStore, extra: { config?: Record<string, unknown> } = {}) {
  return await seedCluster(store, {
    scope: "batman",
    sysid: "7290932069385928812",
    leader: "node1",
    members: [
      { name: "node1", data: memberData(5432, { role: "primary", timeline: 2, xlog_location: 50331648 }) },
      {
        name: "node2",
        data: memberData(5433, { timeline: 2, xlog_location: 50331648, replication_state: "streaming" }),
      },
      {
        name: "node3",
        data: memberData(5434, { timeline: 2, xlog_location: 50331648, tags: { nofailover: true } }),
      },
    ],
    config: extra.config ??
      { ttl: 30, loop_wait: 10, retry_timeout: 10, postgresql: { parameters: { max_connections: 100 } } },
    history: HISTORY,
  });
}

async function withCluster(
  fn: (
    ctx: { store: MemoryStore; dir: string; cfg: string; cluster: Awaited<ReturnType<typeof batman>> },
  ) => Promise<void>,
  extra: { config?: Record<string, unknown> } = {},
) {
  const store = new MemoryStore();
  const dir = await Deno.makeTempDir({ prefix: "ctl-test-" });
  const cluster = await batman(store, extra);
  try {
    await fn({ store, dir, cfg: await ctlConfigFile(dir, "batman"), cluster });
  } finally {
    await cluster.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("list from a config holding only the DCS and scope", async () => {
  await withCluster(async ({ store, cfg }) => {
    const r = await runCtl(["-c", cfg, "list"], { store });
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split("\n");
    assert.match(lines[0]!, /^\+ Cluster: batman \(7290932069385928812\) -+\+/);
    assert.deepEqual(lines.slice(3, 6).map((l) => l.split("|").slice(1, 6).map((c) => c.trim())), [
      ["node1", "127.0.0.1:5432", "Leader", "running", "2"],
      ["node2", "127.0.0.1:5433", "Replica", "streaming", "2"],
      ["node3", "127.0.0.1:5434", "Replica", "running", "2"],
    ]);
    assert.match(r.out, /\| Tags +\|/, "a member has tags: the column appears");

    const j = await runCtl(["-c", cfg, "list", "-f", "json"], { store });
    assert.deepEqual(
      JSON.parse(j.out).map((m: Record<string, unknown>) => [m.Member, m.Role, m["Lag in MB"]]),
      [
        ["node1", "Leader", undefined],
        ["node2", "Replica", 0],
        ["node3", "Replica", 0],
      ],
    );
    const bad = await runCtl(["-c", cfg, "list", "-f", "xml"], { store });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /Unknown output format "xml"/);
  });
});

Deno.test("list with --dcs-url and cluster names, no config file at all", async () => {
  await withCluster(async ({ store }) => {
    const r = await runCtl(["-d", "memory://x", "list", "batman", "nothere"], { store });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Cluster: batman \(7290932069385928812\)/);
    assert.match(r.out, /Cluster: nothere \(uninitialized\)/);
    const none = await runCtl(["list"], { store });
    assert.equal(none.code, 0);
    assert.match(none.err, /No cluster names were provided/);
    const noDcs = await runCtl(["list", "batman"], { store });
    assert.equal(noDcs.code, 1);
    assert.match(noDcs.err, /no DCS configured: pass --dcs-url/);
    const missing = await runCtl(["-c", "/nonexistent/ctl.yaml", "list"], { store });
    assert.equal(missing.code, 1);
    assert.match(missing.err, /Provided config file \/nonexistent\/ctl.yaml not existing/);
  });
});

Deno.test("show-config, history, dsn, topology read the DCS", async () => {
  await withCluster(async ({ store, cfg }) => {
    const sc = await runCtl(["-c", cfg, "show-config"], { store });
    assert.equal(
      sc.out,
      "loop_wait: 10\npostgresql:\n  parameters:\n    max_connections: 100\nretry_timeout: 10\nttl: 30\n\n",
    );
    const h = await runCtl(["-c", cfg, "history", "-f", "tsv"], { store });
    assert.equal(
      h.out,
      "TL\tLSN\tReason\tTimestamp\tNew Leader\n1\t25165984\tno recovery target specified\t2030-01-01T00:00:00+00:00\tnode2\n",
    );
    assert.equal((await runCtl(["-c", cfg, "dsn"], { store })).out, "host=127.0.0.1 port=5432\n");
    assert.equal(
      (await runCtl(["-c", cfg, "dsn", "-m", "node3"], { store })).out,
      "host=127.0.0.1 port=5434\n",
    );
    assert.equal(
      (await runCtl(["-c", cfg, "dsn", "-r", "replica"], { store })).out,
      "host=127.0.0.1 port=5433\n",
    );
    const both = await runCtl(["-c", cfg, "dsn", "-r", "replica", "-m", "node3"], { store });
    assert.equal(both.code, 1);
    assert.match(both.err, /mutually exclusive/);
    const t = await runCtl(["-c", cfg, "topology"], { store });
    assert.match(t.out, /\| \+ node2 /);
  });
});

Deno.test("edit-config --set/--pg validates, shows a diff and writes with compare-and-set", async () => {
  await withCluster(async ({ store, cfg, cluster }) => {
    const r = await runCtl([
      "-c",
      cfg,
      "edit-config",
      "--set",
      "loop_wait=5",
      "--pg",
      "work_mem=8MB",
      "--force",
    ], { store });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^-loop_wait: 10$/m);
    assert.match(r.out, /^\+loop_wait: 5$/m);
    assert.match(r.out, /^\+ {4}work_mem: 8MB$/m);
    assert.match(r.out, /Configuration changed\n$/);
    const c = (await cluster.read()).config!.value;
    assert.equal(c.loop_wait, 5);
    assert.deepEqual(c.postgresql, { parameters: { max_connections: 100, work_mem: "8MB" } });

    const invalid = await runCtl(["-c", cfg, "edit-config", "-s", "ttl=8", "--force"], { store });
    assert.equal(invalid.code, 1);
    assert.match(
      invalid.err,
      /Error: invalid configuration: ttl: expected loop_wait \+ 2\*retry_timeout <= ttl/,
    );
    assert.equal((await cluster.read()).config!.value.ttl, 30, "nothing written");

    const same = await runCtl(["-c", cfg, "edit-config", "-s", "loop_wait=5"], { store });
    assert.equal(same.out, "Not changed\n");

    const declined = await runCtl(["-c", cfg, "edit-config", "-s", "loop_wait=7"], { store, input: "n\n" });
    assert.equal(declined.code, 0);
    assert.match(declined.out, /Apply these changes\? \[y\/N\]: $/);
    assert.equal((await cluster.read()).config!.value.loop_wait, 5);
    const accepted = await runCtl(["-c", cfg, "edit-config", "-q", "-s", "loop_wait=7"], {
      store,
      input: "y\n",
    });
    assert.equal(accepted.out, "Apply these changes? [y/N]: Configuration changed\n");
    assert.equal((await cluster.read()).config!.value.loop_wait, 7);
  });
});

Deno.test("edit-config --apply/--replace from stdin need --force; the editor path works", async () => {
  await withCluster(async ({ store, cfg, cluster }) => {
    const noForce = await runCtl(["-c", cfg, "edit-config", "--apply", "-"], {
      store,
      input: "loop_wait: 3\n",
    });
    assert.match(noForce.out, /Use --force option to apply changes/);
    assert.equal((await cluster.read()).config!.value.loop_wait, 10);
    const apply = await runCtl(["-c", cfg, "edit-config", "-q", "--apply", "-", "--force"], {
      store,
      input: "loop_wait: 3\npostgresql: {parameters: {max_connections: null}}\n",
    });
    assert.equal(apply.code, 0, apply.err);
    // Patroni's merge keeps the emptied object.
    assert.deepEqual((await cluster.read()).config!.value, {
      ttl: 30,
      loop_wait: 3,
      retry_timeout: 10,
      postgresql: { parameters: {} },
    });
    const replace = await runCtl(["-c", cfg, "edit-config", "-q", "--replace", "-", "--force"], {
      store,
      input: "ttl: 40\nloop_wait: 5\n",
    });
    assert.equal(replace.code, 0, replace.err);
    assert.deepEqual((await cluster.read()).config!.value, { ttl: 40, loop_wait: 5 });

    let edited = "";
    const viaEditor = await runCtl(["-c", cfg, "edit-config", "--force"], {
      store,
      env: { EDITOR: "fake-editor" },
      editor: async (file) => {
        edited = await Deno.readTextFile(file);
        await Deno.writeTextFile(file, edited.replace("ttl: 40", "ttl: 45\ncheck_timeline: true"));
        return 0;
      },
    });
    assert.equal(edited, "loop_wait: 5\nttl: 40\n");
    assert.equal(viaEditor.code, 0, viaEditor.err);
    assert.deepEqual((await cluster.read()).config!.value, { ttl: 45, loop_wait: 5, check_timeline: true });
    const failing = await runCtl(["-c", cfg, "edit-config"], {
      store,
      env: { EDITOR: "x" },
      editor: () => Promise.resolve(3),
    });
    assert.equal(failing.code, 1);
    assert.match(failing.err, /Editor exited with return code 3/);
  });
});

Deno.test("edit-config --dry-run asks the leader for the plan and writes nothing", async () => {
  await withCluster(async ({ store, cfg, cluster }) => {
    const api = new FakeApi((call) =>
      call.url.endsWith("/config?dry_run=1")
        ? {
          status: 200,
          body: JSON.stringify({
            diff: [{ path: "postgresql.parameters.max_connections", old: 100, new: 200 }],
            restart_parameters: ["max_connections"],
            members: [{ name: "node1", action: "restart" }, { name: "node2", action: "restart" }],
          }),
        }
        : { status: 404, body: "" }
    );
    const r = await runCtl(["-c", cfg, "edit-config", "-q", "--pg", "max_connections=200", "--dry-run"], {
      store,
      api,
    });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(api.calls, [{
      method: "PATCH",
      url: "http://127.0.0.1:8008/config?dry_run=1",
      body: { postgresql: { parameters: { max_connections: 200 } } },
    }]);
    assert.equal(
      r.out,
      "Changes:\n  postgresql.parameters.max_connections: 100 -> 200\nNeeds a PostgreSQL restart to take effect: max_connections\n" +
        "Members:\n  node1  restart\n  node2  restart\n",
    );
    assert.equal((await cluster.read()).config!.value.postgresql !== undefined, true);
    assert.deepEqual((await cluster.read()).config!.value.postgresql, {
      parameters: { max_connections: 100 },
    });

    // No API answers: the plan is computed locally, and says so.
    const down = new FakeApi();
    down.down.add("http://127.0.0.1:");
    const local = await runCtl(["-c", cfg, "edit-config", "-q", "-s", "loop_wait=5", "--dry-run"], {
      store,
      api: down,
    });
    assert.equal(local.code, 0, local.err);
    assert.match(local.err, /computed locally/);
    assert.ok(
      local.out.endsWith("loop_wait: 10 -> 5\nMembers:\n  node1  reload\n  node2  reload\n  node3  reload\n"),
      local.out,
    );
  });
});

Deno.test("pause via the leader's API; resume when not paused is an error", async () => {
  await withCluster(async ({ store, cfg }) => {
    const api = new FakeApi((
      c,
    ) => (c.method === "PATCH" ? { status: 200, body: "{}" } : { status: 404, body: "" }));
    const r = await runCtl(["-c", cfg, "pause"], { store, api });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "Success: cluster management is paused\n");
    assert.deepEqual(api.calls, [{
      method: "PATCH",
      url: "http://127.0.0.1:8008/config",
      body: { pause: true },
    }]);
    const resume = await runCtl(["-c", cfg, "resume"], { store, api });
    assert.equal(resume.code, 1);
    assert.equal(resume.err, "Error: Cluster is not paused\n");
  });
});

Deno.test("pause falls back to the DCS when no API answers; --wait follows the members", async () => {
  await withCluster(async ({ store, cfg, cluster }) => {
    const api = new FakeApi();
    api.down.add("http://127.0.0.1:");
    // The agents notice the flag and republish their member keys with pause: true a little later.
    const agents = cluster.agents;
    const timer = setTimeout(async () => {
      for (const [name, port] of [["node1", 5432], ["node2", 5433], ["node3", 5434]] as const) {
        await agents.get(name)!.touchMember(memberData(port, { pause: true }));
      }
    }, 20);
    try {
      const r = await runCtl(["-c", cfg, "pause", "--wait"], { store, api });
      assert.equal(r.code, 0, r.err);
      assert.equal(api.calls.length, 3, "leader first, then the others, all refused");
      assert.equal(api.calls[0]!.url, "http://127.0.0.1:8008/config");
      assert.match(r.err, /writing the pause flag directly into the DCS/);
      assert.match(
        r.out,
        /'pause' request sent, waiting until it is recognized by all nodes\nSuccess: cluster management is paused\n$/,
      );
      assert.equal((await cluster.read()).config!.value.pause, true);
    } finally {
      clearTimeout(timer);
    }
    const again = await runCtl(["-c", cfg, "pause"], { store, api });
    assert.equal(again.err, "Error: Cluster is already paused\n");
  });
});

Deno.test("pause --wait reports members that saw the change but did not pause", async () => {
  await withCluster(async ({ store, cfg, cluster }) => {
    const api = new FakeApi(() => ({ status: 200, body: "{}" }));
    // node2 republishes without pause (it did not recognize it); the others never update (down).
    const timer = setTimeout(
      () => cluster.agents.get("node2")!.touchMember(memberData(5433, { state: "running" })),
      20,
    );
    try {
      const r = await runCtl(["-c", cfg, "pause", "--wait"], { store, api });
      assert.equal(r.code, 1);
      assert.match(r.out, /Failed: node2 did not recognize the pause within 25 seconds/);
      assert.match(r.err, /node1, node3 did not update their member key/);
    } finally {
      clearTimeout(timer);
    }
  }, { config: { ttl: 30, loop_wait: 10, retry_timeout: 10 } });
});

Deno.test("switchover: options become the request body; --primary is an alias of --leader", async () => {
  await withCluster(async ({ store, cfg }) => {
    const api = new FakeApi(() => ({ status: 200, body: 'Successfully switched over to "node2"' }));
    const r = await runCtl(
      ["-c", cfg, "switchover", "--primary", "node1", "--candidate", "node2", "--force"],
      { store, api },
    );
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(api.calls, [{
      method: "POST",
      url: "http://127.0.0.1:8008/switchover",
      body: { leader: "node1", candidate: "node2" },
    }]);
    assert.match(r.out, /^Current cluster topology\n\+ Cluster: batman/);
    assert.match(r.out, /\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} Successfully switched over to "node2"\n/);

    const sched = await runCtl([
      "-c",
      cfg,
      "switchover",
      "--leader",
      "node1",
      "--scheduled",
      "2030-01-01T12:00+00:00",
      "--force",
    ], {
      store,
      api,
    });
    assert.equal(sched.code, 0, sched.err);
    assert.deepEqual(api.calls[1]!.body, { leader: "node1", scheduled_at: "2030-01-01T12:00:00+00:00" });

    for (
      const [args, msg] of [
        [["--leader", "node2", "--force"], "Member node2 is not the leader of cluster batman"],
        [
          ["--candidate", "node3", "--force"],
          "Member node3 does not exist in cluster batman or is tagged as nofailover",
        ],
        [["--candidate", "node1", "--force"], "Switchover target and source are the same."],
        [["--scheduled", "soon", "--force"], "Unable to parse scheduled timestamp (soon)"],
      ] as const
    ) {
      const bad = await runCtl(["-c", cfg, "switchover", ...args], { store, api });
      assert.equal(bad.code, 1, args.join(" "));
      assert.match(bad.err, new RegExp(msg.replace(/[().]/g, "\\$&")));
    }
    assert.equal(api.calls.length, 2, "refused requests never reach the API");
  });
});

Deno.test("switchover asks for what is missing, like patronictl", async () => {
  await withCluster(async ({ store, cfg }) => {
    const api = new FakeApi(() => ({ status: 200, body: 'Successfully switched over to "node2"' }));
    const r = await runCtl(["-c", cfg, "switchover"], { store, api, input: "\nnode2\n\ny\n" });
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /Primary \[node1\]: Candidate \['node2'\] \[\]: When should the switchover take place \(e\.g\. [0-9T:-]+ \) {2}\[now\]: /,
    );
    assert.match(
      r.out,
      /Are you sure you want to switchover cluster batman, demoting current leader node1\? \[y\/N\]: /,
    );
    assert.deepEqual(api.calls[0]!.body, { leader: "node1", candidate: "node2" });
    const no = await runCtl(["-c", cfg, "switchover"], { store, api, input: "\n\n\nn\n" });
    assert.equal(no.code, 1);
    assert.match(no.err, /Error: Aborting switchover/);
    const eof = await runCtl(["-c", cfg, "switchover"], { store, api, input: "\n" });
    assert.equal(eof.code, 1);
    assert.match(eof.err, /Aborted!/);
    assert.equal(api.calls.length, 1);
  });
});

Deno.test("switchover failure is reported; an unreachable API falls back to the DCS failover key", async () => {
  await withCluster(async ({ store, cfg, cluster }) => {
    const refusing = new FakeApi(() => ({
      status: 412,
      body: "candidate name does not match with sync_standby",
    }));
    const r = await runCtl(["-c", cfg, "switchover", "--candidate", "node2", "--force"], {
      store,
      api: refusing,
    });
    assert.equal(r.code, 1);
    assert.match(r.out, /Switchover failed, details: 412, candidate name does not match with sync_standby/);

    const down = new FakeApi();
    down.down.add("http://127.0.0.1:8008");
    const f = await runCtl(["-c", cfg, "switchover", "--candidate", "node2", "--force"], {
      store,
      api: down,
    });
    assert.equal(f.code, 0, f.err);
    assert.match(
      f.err,
      /node1 \(http:\/\/127\.0\.0\.1:8008\/switchover\): error sending request: Connection refused/,
    );
    assert.match(f.out, /Could not switchover using the REST API, falling back to DCS/);
    assert.deepEqual((await cluster.read()).failover?.value, { leader: "node1", member: "node2" });
  });
});

Deno.test("failover needs a candidate and names only the candidate", async () => {
  await withCluster(async ({ store, cfg }) => {
    const api = new FakeApi(() => ({ status: 200, body: 'Successfully failed over to "node2"' }));
    const none = await runCtl(["-c", cfg, "failover", "--force"], { store, api });
    assert.equal(none.code, 1);
    assert.match(none.err, /Failover could be performed only to a specific candidate/);
    const ok = await runCtl(["-c", cfg, "failover", "--candidate", "node2", "--force"], { store, api });
    assert.equal(ok.code, 0, ok.err);
    assert.deepEqual(api.calls, [{
      method: "POST",
      url: "http://127.0.0.1:8008/failover",
      body: { candidate: "node2" },
    }]);
  });
});

Deno.test("restart, reload and flush talk to each selected member", async () => {
  await withCluster(async ({ store, cfg }) => {
    const api = new FakeApi((c) =>
      c.url.includes(":8009")
        ? { status: 503, body: "restart conditions are not satisfied" }
        : { status: c.url.endsWith("/reload") ? 202 : 200, body: "ok" }
    );
    const r = await runCtl(["-c", cfg, "restart", "batman", "--force", "--pending"], { store, api });
    assert.equal(r.code, 1, "one member failed");
    assert.match(r.out, /Success: restart on member node1\n/);
    assert.match(
      r.out,
      /Failed: restart for member node2, status code=503, \(restart conditions are not satisfied\)\n/,
    );
    assert.match(r.out, /Success: restart on member node3\n/);
    assert.deepEqual(api.calls.map((c) => [c.url, c.body]), [
      ["http://127.0.0.1:8008/restart", { restart_pending: true }],
      ["http://127.0.0.1:8009/restart", { restart_pending: true }],
      ["http://127.0.0.1:8010/restart", { restart_pending: true }],
    ]);
    api.calls.length = 0;
    const rl = await runCtl(["-c", cfg, "reload", "batman", "node1", "-r", "leader"], {
      store,
      api,
      input: "y\n",
    });
    assert.equal(rl.code, 0, rl.err);
    assert.match(
      rl.out,
      /Are you sure you want to reload members node1\? \[y\/N\]: Reload request received for member node1 and will be processed within 10 seconds\n/,
    );
    assert.deepEqual(api.calls.map((c) => c.url), ["http://127.0.0.1:8008/reload"]);
    const wrongRole = await runCtl(["-c", cfg, "reload", "batman", "node2", "-r", "leader", "--force"], {
      store,
      api,
    });
    assert.equal(wrongRole.err, "Error: No leader among provided members\n");
    const unknown = await runCtl(["-c", cfg, "restart", "batman", "nodeX", "--force"], { store, api });
    assert.equal(unknown.err, "Error: nodeX is not a member of cluster batman\n");
    const flush = await runCtl(["-c", cfg, "flush", "batman", "switchover"], { store, api });
    assert.equal(flush.out, "No pending scheduled switchover\n");
    const badTarget = await runCtl(["-c", cfg, "flush", "batman", "node1"], { store, api });
    assert.match(badTarget.err, /expected the target restart or switchover/);
  });
});

Deno.test("remove asks for the name, the phrase and the leader before deleting", async () => {
  await withCluster(async ({ store, cfg, cluster }) => {
    const wrong = await runCtl(["-c", cfg, "remove", "batman"], { store, input: "batman\nyes\n" });
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /You did not exactly type "Yes I am aware"/);
    assert.equal((await cluster.read()).members.length, 3);
    const r = await runCtl(["-c", cfg, "remove", "batman"], {
      store,
      input: "batman\nYes I am aware\nnode1\n",
    });
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /Please confirm the cluster name to remove: You are about to remove all information in DCS for batman, please type: "Yes I am aware": This cluster currently is healthy\. Please specify the leader name to continue: $/,
    );
    const after = await cluster.read();
    assert.equal(after.initialize, null);
    assert.equal(after.config, null);
    assert.equal(after.leader, null);
  });
});

Deno.test("why prints each member's decision; a member without an answer makes the exit code 1", async () => {
  await withCluster(async ({ store, cfg }) => {
    const api = new FakeApi((c) => {
      if (c.url.startsWith("http://127.0.0.1:8010")) {
        return { status: 503, body: '{"code":null,"message":"no HA cycle has completed yet"}' };
      }
      const leader = c.url.startsWith("http://127.0.0.1:8008");
      return {
        status: 200,
        body: JSON.stringify({
          at: "2030-01-01T00:00:00.000Z",
          code: leader ? "lock_renewed" : "following_leader",
          message: leader
            ? "no action. I am (node1), the leader with the lock"
            : "no action. I am (node2), a secondary, and following a leader (node1)",
          action: leader ? "lead" : "follow",
          details: {},
          candidates: [],
        }),
      };
    });
    const r = await runCtl(["-c", cfg, "why"], { store, api });
    assert.equal(r.code, 1);
    assert.equal(
      r.out,
      "node1 (Leader): no action. I am (node1), the leader with the lock\n" +
        "  reason: lock_renewed; action: lead; decided at 2030-01-01T00:00:00.000Z\n" +
        "node2 (Replica): no action. I am (node2), a secondary, and following a leader (node1)\n" +
        "  reason: following_leader; action: follow; decided at 2030-01-01T00:00:00.000Z\n" +
        "node3 (Replica): no decision available: HTTP 503, no HA cycle has completed yet\n",
    );
    assert.deepEqual(api.calls.map((c) => c.url).sort(), [
      "http://127.0.0.1:8008/explain",
      "http://127.0.0.1:8009/explain",
      "http://127.0.0.1:8010/explain",
    ]);
  });
});

Deno.test("REST calls carry ctl.authentication; query uses the configured superuser and the member's address", async () => {
  await withCluster(async ({ store, dir }) => {
    const cfg = await ctlConfigFile(
      dir,
      "batman",
      "ctl:\n  authentication:\n    username: admin\n    password: s3cret\npostgresql:\n  authentication:\n    superuser:\n" +
        "      username: su\n      password: pw\n",
    );
    const api = new FakeApi(() => ({ status: 200, body: "{}" }));
    await runCtl(["-c", cfg, "pause"], { store, api });
    assert.equal(api.calls[0]!.authorization, "Basic " + btoa("admin:s3cret"));

    const seen: unknown[] = [];
    const q = await runCtl(["-c", cfg, "query", "-m", "node2", "-c", "select 1 as one, null as n"], {
      store,
      pg: (o) => {
        seen.push(o);
        return Promise.resolve({
          run: (sql: string) => {
            seen.push(sql);
            return Promise.resolve({ columns: ["one", "n"], rows: [[1, null]] });
          },
          close: () => Promise.resolve(),
        });
      },
    });
    assert.equal(q.code, 0, q.err);
    assert.equal(q.out, "one\tn\n1\tNone\n");
    assert.deepEqual(seen, [
      { host: "127.0.0.1", port: 5433, database: "postgres", username: "su", password: "pw" },
      "select 1 as one, null as n",
    ]);
    const needSql = await runCtl(["-c", cfg, "query"], { store });
    assert.match(needSql.err, /You need to specify either --command or --file/);
  });
});

Deno.test("Citus: list shows every group with a Group column, --group narrows it; operations need a group", async () => {
  const store = new MemoryStore();
  const dir = await Deno.makeTempDir({ prefix: "ctl-citus-" });
  const coord = await seedCluster(store, {
    scope: "demo",
    group: 0,
    sysid: "1",
    leader: "c1",
    members: [{ name: "c1", data: memberData(5432, { role: "primary" }) }],
    config: { ttl: 30 },
  });
  const worker = await seedCluster(store, {
    scope: "demo",
    group: 1,
    sysid: "2",
    leader: "w1",
    members: [
      { name: "w1", data: memberData(5433, { role: "primary" }) },
      { name: "w2", data: memberData(5434, { replication_state: "streaming" }) },
    ],
  });
  try {
    const cfg = await ctlConfigFile(dir, "demo", "citus:\n  group: 0\n  database: citus\n");
    const all = await runCtl(["-c", cfg, "list", "-f", "tsv"], { store });
    assert.equal(all.code, 0, all.err);
    assert.deepEqual(all.out.trimEnd().split("\n").map((l) => l.split("\t").slice(0, 5)), [
      ["Cluster", "Group", "Member", "Host", "Role"],
      ["demo", "0", "c1", "127.0.0.1:5432", "Leader"],
      ["demo", "1", "w1", "127.0.0.1:5433", "Leader"],
      ["demo", "1", "w2", "127.0.0.1:5434", "Replica"],
    ]);
    const pretty = await runCtl(["-c", cfg, "list"], { store });
    assert.match(pretty.out, /^\+ Citus cluster: demo \(1\) /);
    const one = await runCtl(["-c", cfg, "list", "--group", "1"], { store });
    assert.match(one.out, /^\+ Citus cluster: demo \(group: 1, 2\) /);
    assert.doesNotMatch(one.out, /c1/);
    const sw = await runCtl(["-c", cfg, "switchover", "--force"], { store });
    assert.equal(sw.code, 1);
    assert.match(sw.err, /For Citus clusters the --group must be specified/);
    const dsn = await runCtl(["-c", cfg, "dsn", "--group", "1", "-r", "replica"], { store });
    assert.equal(dsn.out, "host=127.0.0.1 port=5434\n");
  } finally {
    await coord.close();
    await worker.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reinit --wait polls the member until the rebuilt instance runs", async () => {
  await withCluster(async ({ store, cfg }) => {
    let gets = 0;
    const api = new FakeApi((c) => {
      if (c.method === "POST") return { status: 200, body: "reinitialize started" };
      gets++;
      const doc = gets === 1
        ? { state: "running", postmaster_start_time: "old" } // before the request
        : gets === 2
        ? { state: "running", postmaster_start_time: "old" } // not started yet: must not count as done
        : gets === 3
        ? { state: "creating replica" }
        : { state: "running", postmaster_start_time: "new" };
      return { status: 200, body: JSON.stringify(doc) };
    });
    const r = await runCtl(["-c", cfg, "reinit", "batman", "node2", "--force", "--wait"], { store, api });
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /Success: reinitialize for member node2\nWaiting for reinitialize to complete on: node2\nReinitialize is completed on: node2\n$/,
    );
    assert.equal(gets, 4);
    assert.deepEqual(api.calls[1], {
      method: "POST",
      url: "http://127.0.0.1:8009/reinitialize",
      body: { force: true },
    });
    const leader = await runCtl(["-c", cfg, "reinit", "batman", "node1", "--force"], { store, api });
    assert.equal(leader.err, "Error: No replica among provided members\n");
  });
});

Deno.test("list -w refreshes; version asks every member", async () => {
  await withCluster(async ({ store, cfg }) => {
    const r = await runCtl(["-c", cfg, "list", "-w", "1", "-t"], { store, maxWatchRefreshes: 2 });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.match(/\+ Cluster: batman/g)?.length, 3);
    assert.equal(r.out.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/gm)?.length, 3);
    const api = new FakeApi((c) =>
      c.url.includes(":8010")
        ? { status: 500, body: "oops" }
        : { status: 200, body: JSON.stringify({ server_version: 150004, patroni: { version: "0.1.0" } }) }
    );
    const v = await runCtl(["-c", cfg, "version", "batman"], { store, api });
    assert.match(
      v.out,
      /^pgwarden ctl version \d+\.\d+\.\d+\n\nnode1: pgwarden 0\.1\.0 PostgreSQL 15\.4\nnode2: pgwarden 0\.1\.0 PostgreSQL 15\.4\nnode3: failed to get version: .*HTTP 500/,
    );
  });
});
