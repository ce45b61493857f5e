/**
 * The least an HA cycle can do, and what it costs on this runtime: every `loop_wait` one request to etcd's
 * JSON gateway (`fetch`) and one SQL statement (postgres.js), nothing else. Prints its own CPU seconds per minute
 * over the window as one JSON line. Run by floors.ts in its own process (same V8 flags as bin/pgwarden).
 *
 * Args: <etcd url> <pg port> <seconds> <loop_wait s> <what: both|etcd|sql>
 */
import postgres from "postgres";

const [etcdUrl, pgPort, secs, loopWaitS, what] = Deno.args;
const sql = postgres({
  host: "127.0.0.1",
  port: Number(pgPort),
  user: "postgres",
  pass: Deno.env.get("PGPASSWORD") ?? "",
  database: "postgres",
  max: 1,
  prepare: false,
  fetch_types: false,
  idle_timeout: 0,
});
const cpuSeconds = () => {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
};
async function cycle() {
  if (what !== "sql") {
    const r = await fetch(`${etcdUrl}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: btoa("/x") }),
    });
    await r.json();
  }
  if (what !== "etcd") await sql.unsafe("SELECT pg_is_in_recovery()");
}
for (let i = 0; i < 5; i++) await cycle(); // warm up: connections open, code compiled
const c0 = cpuSeconds();
const t0 = Date.now();
while (Date.now() - t0 < Number(secs) * 1000) {
  await cycle();
  await new Promise((r) => setTimeout(r, Number(loopWaitS) * 1000));
}
const perMin = ((cpuSeconds() - c0) * 60_000) / (Date.now() - t0);
console.log(JSON.stringify({ what, cpuPerMin: Math.round(perMin * 1000) / 1000 }));
await sql.end();
