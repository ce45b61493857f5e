/** Rendering of the cluster listing and other tables; expected outputs come from Patroni's own ctl code. */
import assert from "node:assert/strict";
import { formatOutput, pyJson, renderTable, toYaml } from "../../src/ctl/output.ts";
import { clusterTable, membersWithRole, renderCluster, topologySort } from "../../src/ctl/members.ts";
import { renderHistory } from "../../src/ctl/commands/history.ts";
import { batman, member, snapshot } from "./fixtures.ts";

// Patroni 3.0.2 output_members() on the same cluster, with the 4.x title (scope and system identifier).
const PRETTY =
  "+ Cluster: batman (7290932069385928812) -+---------+----+-----------+-----------------+---------------------------------------------+------------------+\n| Member | Host           | Role         | State   | TL | Lag in MB | Pending restart | Scheduled restart                           | Tags             |\n+--------+----------------+--------------+---------+----+-----------+-----------------+---------------------------------------------+------------------+\n| node1  | 127.0.0.1:5432 | Leader       | running |  2 |           |                 |                                             |                  |\n+--------+----------------+--------------+---------+----+-----------+-----------------+---------------------------------------------+------------------+\n| node2  | 127.0.0.1:5433 | Sync Standby | running |  2 |         3 |                 |                                             | clonefrom: true  |\n|        |                |              |         |    |           |                 |                                             | nofailover: true |\n+--------+----------------+--------------+---------+----+-----------+-----------------+---------------------------------------------+------------------+\n| node3  | 127.0.0.1:5434 | Replica      | running |    |   unknown | *               | 2030-01-01T12:00:00+00:00 if version < 15.5 |                  |\n+--------+----------------+--------------+---------+----+-----------+-----------------+---------------------------------------------+------------------+\n Maintenance mode: on\n Switchover scheduled at: 2030-01-01T12:00:00+00:00\n                    from: node1\n                      to: node3";
const TOPOLOGY =
  "+ Cluster: batman (7290932069385928812) --+---------+----+-----------+-----------------+---------------------------------------------+-------------------------------------+\n| Member  | Host           | Role         | State   | TL | Lag in MB | Pending restart | Scheduled restart                           | Tags                                |\n+---------+----------------+--------------+---------+----+-----------+-----------------+---------------------------------------------+-------------------------------------+\n| node1   | 127.0.0.1:5432 | Leader       | running |  2 |           |                 |                                             |                                     |\n| + node2 | 127.0.0.1:5433 | Sync Standby | running |  2 |         3 |                 |                                             | {clonefrom: true, nofailover: true} |\n| + node3 | 127.0.0.1:5434 | Replica      | running |    |   unknown | *               | 2030-01-01T12:00:00+00:00 if version < 15.5 |                                     |\n+---------+----------------+--------------+---------+----+-----------+-----------------+---------------------------------------------+-------------------------------------+\n Maintenance mode: on\n Switchover scheduled at: 2030-01-01T12:00:00+00:00\n                    from: node1\n                      to: node3";
const EMPTY =
  "+ Cluster: x (7290932069385928812) -+-----------+\n| Member | Host | Role | State | TL | Lag in MB |\n+--------+------+------+-------+----+-----------+\n+--------+------+------+-------+----+-----------+";
// Patroni 3.0.2 output for the machine formats (no title involved).
const TSV =
  "Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tPending restart\tScheduled restart\tTags\nbatman\tnode1\t127.0.0.1:5432\tLeader\trunning\t2\t\t\t\t\nbatman\tnode2\t127.0.0.1:5433\tSync Standby\trunning\t2\t3\t\t\t{clonefrom: true, nofailover: true}\nbatman\tnode3\t127.0.0.1:5434\tReplica\trunning\t\tunknown\t*\t2030-01-01T12:00:00+00:00 if version < 15.5\t";
const JSON_OUT =
  '[{"Cluster": "batman", "Member": "node1", "Host": "127.0.0.1:5432", "Role": "Leader", "State": "running", "TL": 2}, {"Cluster": "batman", "Member": "node2", "Host": "127.0.0.1:5433", "Role": "Sync Standby", "State": "running", "TL": 2, "Lag in MB": 3, "Tags": {"nofailover": true, "clonefrom": true}}, {"Cluster": "batman", "Member": "node3", "Host": "127.0.0.1:5434", "Role": "Replica", "State": "running", "Lag in MB": "unknown", "Pending restart": "*", "Scheduled restart": "2030-01-01T12:00:00+00:00 if version < 15.5"}]';
const YAML_OUT =
  "- Cluster: batman\n  Host: 127.0.0.1:5432\n  Member: node1\n  Role: Leader\n  State: running\n  TL: 2\n- Cluster: batman\n  Host: 127.0.0.1:5433\n  Lag in MB: 3\n  Member: node2\n  Role: Sync Standby\n  State: running\n  TL: 2\n  Tags:\n    clonefrom: true\n    nofailover: true\n- Cluster: batman\n  Host: 127.0.0.1:5434\n  Lag in MB: unknown\n  Member: node3\n  Pending restart: '*'\n  Role: Replica\n  Scheduled restart: 2030-01-01T12:00:00+00:00 if version < 15.5\n  State: running";

Deno.test("list: pretty table matches patronictl, with multi-line tags, extra columns and footers", () => {
  assert.equal(renderCluster(batman(), { name: "batman" }), PRETTY);
});

Deno.test("list: -e shows the extra columns even when no member has them", () => {
  const s = snapshot({ leader: "a", members: [member("a", 5432, { role: "primary", timeline: 1 })] });
  assert.deepEqual(clusterTable(s, { name: "c" }).columns, [
    "Cluster",
    "Member",
    "Host",
    "Role",
    "State",
    "TL",
    "Lag in MB",
  ]);
  assert.deepEqual(clusterTable(s, { name: "c", extended: true }).columns.slice(-3), [
    "Pending restart",
    "Scheduled restart",
    "Tags",
  ]);
});

Deno.test("list: tsv, json and yaml match patronictl", () => {
  assert.equal(renderCluster(batman(), { name: "batman", fmt: "tsv" }), TSV);
  assert.equal(renderCluster(batman(), { name: "batman", fmt: "json" }), JSON_OUT);
  assert.equal(renderCluster(batman(), { name: "batman", fmt: "yaml" }), YAML_OUT);
});

Deno.test("topology: members under their replication source, tags in flow style", () => {
  assert.equal(renderCluster(batman(), { name: "batman", fmt: "topology" }), TOPOLOGY);
});

Deno.test("topology: replicatefrom builds a tree; cycles and unknown sources fall back to the leader", () => {
  const s = snapshot({
    leader: "a",
    members: [
      member("a", 5432, { role: "primary" }),
      member("b", 5433, { tags: { replicatefrom: "c" } }),
      member("c", 5434),
      member("d", 5435, { tags: { replicatefrom: "nope" } }),
      member("e", 5436, { tags: { replicatefrom: "f" } }),
      member("f", 5437, { tags: { replicatefrom: "e" } }),
    ],
  });
  const rows = renderCluster(s, { name: "t", fmt: "topology" }).split("\n").filter((l) => l.startsWith("| "))
    .slice(1)
    .map((l) => l.split("|")[1]!.trimEnd());
  // e and f name each other: no path from the leader, so both are shown directly under it.
  assert.deepEqual(rows, [" a", " + c", "   + b", " + d", " + e", " + f"]);
  assert.equal(topologySort([]).length, 0);
});

Deno.test("list: an empty cluster shows the header and its state", () => {
  const empty = snapshot({ members: [] });
  assert.equal(renderCluster(empty, { name: "x" }), EMPTY);
  assert.match(
    renderCluster(snapshot({ sysid: null, members: [] }), { name: "x" }),
    /^\+ Cluster: x \(uninitialized\) /,
  );
  assert.match(
    renderCluster(snapshot({ sysid: "", members: [] }), { name: "x" }),
    /^\+ Cluster: x \(initializing\) /,
  );
});

Deno.test("list: roles Standby Leader and Quorum Standby, port shown only when needed", () => {
  const standby = snapshot({
    leader: "a",
    config: { standby_cluster: { host: "10.0.0.1", port: 5432 } },
    members: [member("a", 5432, { role: "standby_leader" })],
  });
  const t = clusterTable(standby, { name: "s" });
  assert.equal(t.rows[0]![3], "Standby Leader");
  assert.equal(t.rows[0]![2], "127.0.0.1", "single member on 5432: no port");
  const quorum = snapshot({
    leader: "a",
    config: { synchronous_mode: "quorum" },
    sync: { leader: "a", sync_standby: "b" },
    members: [
      {
        name: "a",
        data: { conn_url: "postgres://10.0.0.1:5432/postgres", role: "primary", state: "running" },
      },
      {
        name: "b",
        data: {
          conn_url: "postgres://10.0.0.2:5432/postgres",
          state: "running",
          replication_state: "streaming",
        },
      },
    ],
  });
  const q = clusterTable(quorum, { name: "q" });
  assert.deepEqual(q.rows.map((r) => [r[1], r[2], r[3], r[4]]), [
    ["a", "10.0.0.1", "Leader", "running"],
    ["b", "10.0.0.2", "Quorum Standby", "streaming"],
  ]);
});

Deno.test("list: Citus adds a Group column and lists every group", () => {
  const coord = snapshot({ leader: "c1", members: [member("c1", 5432, { role: "primary" })] });
  coord.groups = new Map([[
    1,
    snapshot({ leader: "w1", members: [member("w1", 5433, { role: "primary" }), member("w2", 5434)] }),
  ]]);
  const t = clusterTable(coord, { name: "cit", citus: true });
  assert.deepEqual(t.columns.slice(0, 3), ["Cluster", "Group", "Member"]);
  assert.deepEqual(t.rows.map((r) => [r[1], r[2]]), [[0, "c1"], [1, "w1"], [1, "w2"]]);
  assert.equal(t.title, " Citus cluster: cit (7290932069385928812) ");
  const one = clusterTable(coord, { name: "cit", citus: true, group: 0 });
  assert.equal(one.rows.length, 1);
  assert.equal(one.title, " Citus cluster: cit (group: 0, 7290932069385928812) ");
  // Pretty output drops both Cluster and Group when a group is selected.
  assert.match(renderCluster(coord, { name: "cit", citus: true, group: 0 }), /\n\| Member \| Host/);
  assert.deepEqual(membersWithRole(coord, "leader", undefined, true).map((m) => m.name), ["c1", "w1"]);
  assert.deepEqual(membersWithRole(coord, "replica", undefined, true).map((m) => m.name), ["w2"]);
});

Deno.test("members by role: primary and standby-leader tell the leader kinds apart", () => {
  const s = batman();
  assert.deepEqual(membersWithRole(s, "primary", undefined, false).map((m) => m.name), ["node1"]);
  assert.deepEqual(membersWithRole(s, "standby-leader", undefined, false).map((m) => m.name), []);
  assert.deepEqual(membersWithRole(s, "replica", undefined, false).map((m) => m.name), ["node2", "node3"]);
  assert.deepEqual(membersWithRole(s, "any", undefined, false).length, 3);
});

Deno.test("renderTable: right alignment applies to headers, a long title widens the table", () => {
  assert.equal(
    renderTable(["TL", "LSN"], [[1, 25165984]], { align: { TL: "r", LSN: "r" } }),
    "+----+----------+\n| TL |      LSN |\n+----+----------+\n|  1 | 25165984 |\n+----+----------+",
  );
  const t = renderTable(["A"], [["x"]], { title: " a long title " });
  assert.equal(t.split("\n")[0], "+ a long title +");
  assert.equal(t.split("\n")[1], "| A            |");
});

Deno.test("history: five columns, short entries padded, all formats", () => {
  const h: [number, number, string, string?, string?][] = [
    [1, 25165984, "no recovery target specified", "2024-01-01T00:00:00+00:00", "node1"],
    [2, 50331808, "no recovery target specified"],
  ];
  assert.equal(
    renderHistory(h, "pretty"),
    [
      "+----+----------+------------------------------+---------------------------+------------+",
      "| TL |      LSN | Reason                       | Timestamp                 | New Leader |",
      "+----+----------+------------------------------+---------------------------+------------+",
      "|  1 | 25165984 | no recovery target specified | 2024-01-01T00:00:00+00:00 | node1      |",
      "|  2 | 50331808 | no recovery target specified |                           |            |",
      "+----+----------+------------------------------+---------------------------+------------+",
    ].join("\n"),
  );
  assert.equal(
    renderHistory(h.slice(1), "json"),
    '[{"TL": 2, "LSN": 50331808, "Reason": "no recovery target specified", "Timestamp": "", "New Leader": ""}]',
  );
  assert.equal(
    renderHistory(h.slice(0, 1), "tsv").split("\n")[1],
    "1\t25165984\tno recovery target specified\t2024-01-01T00:00:00+00:00\tnode1",
  );
});

Deno.test("pyJson and toYaml follow Python's json.dumps and PyYAML safe_dump", () => {
  assert.equal(pyJson({ a: [1, "é", null, true], b: {} }), '{"a": [1, "\\u00e9", null, true], "b": {}}');
  assert.equal(
    toYaml({
      ttl: 30,
      postgresql: { parameters: { x: "on", z: "" }, pg_hba: ["host all all 0.0.0.0/0 md5"] },
    }),
    "postgresql:\n  parameters:\n    x: 'on'\n    z: ''\n  pg_hba:\n  - host all all 0.0.0.0/0 md5\nttl: 30\n",
  );
  assert.equal(formatOutput(["a", "b"], [[1, "x"]], { fmt: "tsv", delimiter: "," }), "a,b\n1,x");
});
