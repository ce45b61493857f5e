/**
 * A loopback TCP proxy that can cut the network without touching either end: `blackhole()` stops forwarding
 * (bytes in both directions are dropped, connections stay open, new ones are accepted and ignored) — like a
 * partition, so nothing sent meanwhile reaches the server; `restore()` closes the connections that lived
 * through the blackhole (their byte streams are broken) and forwards again.
 */

export interface TcpProxy {
  /** `127.0.0.1:PORT` to connect to instead of the target. */
  readonly endpoint: string;
  readonly port: number;
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

interface Link {
  client: Deno.TcpConn;
  server: Deno.TcpConn | null;
  /** Lived through a blackhole: closed on restore. */
  broken: boolean;
  closed: boolean;
}

/** `listen.hostname` picks the address to listen on (default 127.0.0.1), e.g. a test bridge's address. */
export function startTcpProxy(
  target: { hostname?: string; port: number },
  listen: { hostname?: string } = {},
): TcpProxy {
  const hostname = listen.hostname ?? "127.0.0.1";
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const links = new Set<Link>();
  let holed = false;
  let closed = false;

  const shut = (l: Link) => {
    if (l.closed) return;
    l.closed = true;
    links.delete(l);
    for (const c of [l.client, l.server]) {
      try {
        c?.close();
      } catch { /* already closed */ }
    }
  };

  /** Copy `from` → `to` while not blackholed; drop bytes while blackholed. */
  async function pump(l: Link, from: Deno.TcpConn, to: () => Deno.TcpConn | null) {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        if (holed || l.broken) continue;
        const dst = to();
        if (!dst) continue;
        let off = 0;
        while (off < n) off += await dst.write(buf.subarray(off, n));
      }
    } catch { /* reset or closed */ }
    shut(l);
  }

  (async () => {
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await listener.accept();
      } catch {
        return; // listener closed
      }
      const l: Link = { client, server: null, broken: holed, closed: false };
      links.add(l);
      if (!holed) {
        try {
          l.server = await Deno.connect({ hostname: target.hostname ?? "127.0.0.1", port: target.port });
        } catch {
          shut(l);
          continue;
        }
        pump(l, l.server, () => l.client);
      }
      pump(l, client, () => l.server);
    }
  })();

  return {
    endpoint: `${hostname}:${port}`,
    port,
    blackhole() {
      holed = true;
      for (const l of links) l.broken = true;
    },
    restore() {
      holed = false;
      for (const l of [...links]) if (l.broken) shut(l);
    },
    close() {
      if (!closed) {
        closed = true;
        listener.close();
        for (const l of [...links]) shut(l);
      }
      return Promise.resolve();
    },
  };
}
