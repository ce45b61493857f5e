/**
 * `deno task demo`: a local 3-node cluster. Starts etcd on 127.0.0.1:2379 (unless one answers there) and three
 * agents from config/demo/node{1,2,3}.ts, waits for one primary and two streaming replicas, prints the cluster
 * and connection strings, and stops everything on Ctrl-C. Data lives under ./data and is reused next time.
 */
import { LOCAL_ETCD as ETCD, startLocalEtcd } from "./local_etcd.ts";
import { DEMO_PREREQS, ensurePrereqs } from "./prereqs.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DATA = `${ROOT}data`;
const NODES = [
  { name: "node1", api: "127.0.0.1:8008", pg: 5432 },
  { name: "node2", api: "127.0.0.1:8009", pg: 5433 },
  { name: "node3", api: "127.0.0.1:8010", pg: 5434 },
];

const say = (s: string) => console.log(`demo: ${s}`);

async function pipeWithPrefix(stream: ReadableStream<Uint8Array>, prefix: string) {
  const dec = new TextDecoderStream();
  let buf = "";
  for await (const chunk of stream.pipeThrough(dec)) {
    buf += chunk;
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const l of lines) console.log(`${prefix} ${l}`);
  }
}

async function startEtcd(): Promise<Deno.ChildProcess | null> {
  const child = await startLocalEtcd("demo", `${DATA}/etcd`);
  say(child ? `etcd started at ${ETCD} (data in data/etcd)` : `using the etcd already answering at ${ETCD}`);
  return child;
}

interface MemberRow {
  name: string;
  role: string;
  state: string;
  host: string;
  port: number;
  timeline?: number;
  lag?: number | string;
}

async function clusterRows(): Promise<MemberRow[] | null> {
  for (const n of NODES) {
    try {
      const r = await fetch(`http://${n.api}/cluster`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return (await r.json()).members as MemberRow[];
    } catch {
      // try the next node
    }
  }
  return null;
}

function healthy(rows: MemberRow[] | null): boolean {
  if (!rows || rows.length !== 3) return false;
  const leaders = rows.filter((r) => r.role === "leader" && r.state === "running");
  const streaming = rows.filter((r) => r.role !== "leader" && r.state === "streaming");
  return leaders.length === 1 && streaming.length === 2;
}

function printTable(rows: MemberRow[]) {
  const header = ["Member", "Host", "Role", "State", "TL", "Lag in MB"];
  const body = rows.map((r) => [
    r.name,
    `${r.host}:${r.port}`,
    r.role === "leader" ? "Leader" : r.role === "sync_standby" ? "Sync Standby" : "Replica",
    r.state,
    String(r.timeline ?? ""),
    r.role === "leader"
      ? ""
      : typeof r.lag === "number"
      ? String(Math.round(r.lag / 1048576))
      : String(r.lag ?? ""),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = "+" + widths.map((w) => "-".repeat(w + 2)).join("+") + "+";
  const fmt = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  console.log([line, fmt(header), line, ...body.map(fmt), line].join("\n"));
}

async function main() {
  const problem = await ensurePrereqs(DEMO_PREREQS, say);
  if (problem) {
    console.error(`demo: ${problem}`);
    Deno.exit(1);
  }
  await Deno.mkdir(DATA, { recursive: true });
  const etcd = await startEtcd();
  const agents = NODES.map((n) => {
    const child = new Deno.Command(`${ROOT}bin/pgwarden`, {
      args: [`${ROOT}config/demo/${n.name}.ts`],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    pipeWithPrefix(child.stdout, `[${n.name}]`);
    pipeWithPrefix(child.stderr, `[${n.name}]`);
    return { ...n, child };
  });
  say("started 3 agents; waiting for one primary and two streaming replicas");

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say("stopping agents (PostgreSQL is stopped cleanly by each agent)");
    for (const a of agents) {
      try {
        a.child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all(agents.map((a) => a.child.status));
    if (etcd) {
      try {
        etcd.kill("SIGTERM");
      } catch { /* Ctrl-C reached it first */ }
      await etcd.status;
    }
    say("stopped; data kept under ./data for the next run");
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);

  const deadline = Date.now() + 180_000;
  let rows: MemberRow[] | null = null;
  while (Date.now() < deadline && !healthy(rows)) {
    await new Promise((r) => setTimeout(r, 1000));
    rows = await clusterRows();
  }
  if (!healthy(rows)) {
    console.error("demo: the cluster did not reach one primary and two streaming replicas within 180 s");
    if (rows) printTable(rows);
    await stop();
    return;
  }
  printTable(rows!);
  const leader = rows!.find((r) => r.role === "leader")!;
  console.log(`\nPrimary:   postgres://postgres:postgres@${leader.host}:${leader.port}/postgres`);
  for (const r of rows!.filter((r) => r.role !== "leader")) {
    console.log(`Replica:   postgres://postgres:postgres@${r.host}:${r.port}/postgres`);
  }
  console.log(`REST API:  ${NODES.map((n) => `http://${n.api}/patroni`).join("  ")}`);
  console.log(`Cluster:   npx -y deno@2 task ctl -c config/demo/node1.ts list`);
  say("running; press Ctrl-C to stop");
  await Promise.all(agents.map((a) => a.child.status));
}

if (import.meta.main) await main();
