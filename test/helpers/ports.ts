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

export function freePort(): number {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port)) continue;
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
