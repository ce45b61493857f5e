/**
 * Ports for servers the tests start in other processes (PostgreSQL, etcd, ZooKeeper, HAProxy).
 *
 * Binding port 0 hands out a port from the kernel's ephemeral range (32768-60999 here), the same range every
 * outgoing connection of every concurrently running test draws from: between our probe and the server's own
 * bind, a client socket could take it ("address in use"). So pick below the ephemeral range, at random, skip
 * what this process handed out already, and check it is free right now.
 */
const LOW = 10_000;
const HIGH = 32_000;
const given = new Set<number>();

/**
 * Test files run in parallel, each with its own module state, and a server stopped on purpose (etcd down for
 * 3 × ttl) leaves its port free for a while: another file could pick it and the restart would fail with
 * "address in use". So a port handed out is also reserved on disk (mkdir is atomic) for every process and
 * worker; reservations older than an hour are stale and taken over.
 */
const RESERVED = `${Deno.env.get("TMPDIR") ?? "/tmp"}/pgwarden-test-ports`;
const STALE_MS = 60 * 60 * 1000;

function reserve(port: number): boolean {
  const path = `${RESERVED}/${port}`;
  try {
    Deno.mkdirSync(RESERVED, { recursive: true });
    Deno.mkdirSync(path);
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) return true; // cannot reserve here: the bind check decides
    try {
      if (Date.now() - (Deno.statSync(path).mtime?.getTime() ?? 0) < STALE_MS) return false;
      Deno.removeSync(path);
      Deno.mkdirSync(path);
      return true;
    } catch {
      return false; // another worker took it over first
    }
  }
}

export function freePort(): number {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port)) continue;
    if (!reserve(port)) continue;
    try {
      const l = Deno.listen({ hostname: "127.0.0.1", port });
      l.close();
      given.add(port);
      return port;
    } catch {
      // in use: try another
    }
  }
  throw new Error(`no free port found between ${LOW} and ${HIGH}`);
}
