/**
 * Debian's HAProxy in front of a test cluster, configured from examples/haproxy/haproxy.cfg with the test's
 * ports substituted (so the shipped example is what gets tested), and its stats page read as CSV.
 */
import { freePort, type TestNode } from "./cluster.ts";

export const HAPROXY = "/usr/sbin/haproxy";
const EXAMPLE = new URL("../../examples/haproxy/haproxy.cfg", import.meta.url);

export interface HaproxyPorts {
  primary: number;
  replicas: number;
  stats: number;
}

/**
 * The example config with our listen ports and one `server` line per node (PostgreSQL port, REST API port as
 * the check port). Throws when the example no longer has the shape this relies on.
 */
export async function haproxyConfig(nodes: TestNode[], ports: HaproxyPorts): Promise<string> {
  let text = await Deno.readTextFile(EXAMPLE);
  const binds: [string, number][] = [["7000", ports.stats], ["5000", ports.primary], [
    "5001",
    ports.replicas,
  ]];
  for (const [from, to] of binds) {
    const re = new RegExp(`^(\\s*bind 127\\.0\\.0\\.1:)${from}$`, "m");
    if (!re.test(text)) throw new Error(`examples/haproxy/haproxy.cfg has no "bind 127.0.0.1:${from}"`);
    text = text.replace(re, `$1${to}`);
  }
  const server = /^(\s*)server (\S+) 127\.0\.0\.1:\d+ (.*) check port \d+$/gm;
  const seen: string[] = [];
  text = text.replace(server, (_all, indent: string, name: string, mid: string) => {
    const node = nodes.find((n) => n.name === name);
    if (!node) throw new Error(`examples/haproxy/haproxy.cfg names server ${name}, which the cluster lacks`);
    seen.push(name);
    return `${indent}server ${name} 127.0.0.1:${node.pgPort} ${mid} check port ${node.apiPort}`;
  });
  if (seen.length !== 2 * nodes.length) {
    throw new Error(`expected a server line per node and section: ${seen}`);
  }
  return text;
}

export interface Haproxy {
  ports: HaproxyPorts;
  logs: string[];
  /** `{proxy: {server: status}}` from the stats CSV, e.g. `{primary: {node1: "UP", node2: "DOWN"}}`. */
  status(): Promise<Record<string, Record<string, string>>>;
  stop(): Promise<void>;
}

/** Validate (`haproxy -c`) and start HAProxy in the foreground for `nodes`. */
export async function startHaproxy(nodes: TestNode[], dir: string): Promise<Haproxy> {
  const ports = { primary: freePort(), replicas: freePort(), stats: freePort() };
  const cfg = `${dir}/haproxy.cfg`;
  await Deno.writeTextFile(cfg, await haproxyConfig(nodes, ports));
  const check = await new Deno.Command(HAPROXY, { args: ["-c", "-f", cfg], stdout: "piped", stderr: "piped" })
    .output();
  if (!check.success) {
    throw new Error(
      `haproxy -c failed: ${new TextDecoder().decode(check.stdout)}${new TextDecoder().decode(check.stderr)}`,
    );
  }
  const proc = new Deno.Command(HAPROXY, { args: ["-db", "-f", cfg], stdout: "piped", stderr: "piped" })
    .spawn();
  const logs: string[] = [];
  for (const s of [proc.stdout, proc.stderr]) {
    (async () => {
      try {
        for await (const chunk of s.pipeThrough(new TextDecoderStream())) logs.push(...chunk.split("\n"));
      } catch {
        // gone
      }
    })();
  }
  const status = async () => {
    const r = await fetch(`http://127.0.0.1:${ports.stats}/;csv`, { signal: AbortSignal.timeout(3000) });
    const lines = (await r.text()).trim().split("\n");
    const header = lines[0]!.replace(/^# /, "").split(",");
    const [px, sv, st] = ["pxname", "svname", "status"].map((k) => header.indexOf(k));
    const out: Record<string, Record<string, string>> = {};
    for (const line of lines.slice(1)) {
      const f = line.split(",");
      if (f[sv!] === "FRONTEND" || f[sv!] === "BACKEND") continue;
      (out[f[px!]!] ??= {})[f[sv!]!] = f[st!]!;
    }
    return out;
  };
  // Ready when the stats page answers.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await status();
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        try {
          proc.kill("SIGKILL");
        } catch { /* gone */ }
        await proc.status;
        throw new Error(`haproxy did not start: ${e}\n${logs.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    ports,
    logs,
    status,
    async stop() {
      try {
        proc.kill("SIGTERM");
      } catch {
        // gone
      }
      await proc.status;
    },
  };
}
