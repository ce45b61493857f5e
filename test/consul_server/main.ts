/**
 * Run the Consul test server as a process:
 *   deno run --allow-net test/consul_server/main.ts [--port N] [--session-ttl-min 1s] [--no-jitter]
 * Prints one JSON line `{"port": N}` once listening; stops on SIGINT/SIGTERM.
 */
import { parseGoDuration } from "./duration.ts";
import { startConsulServer } from "./server.ts";

function flag(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

if (import.meta.main) {
  const ttlMin = flag("--session-ttl-min");
  const server = await startConsulServer({
    port: Number(flag("--port") ?? 0),
    sessionTtlMinMs: ttlMin ? parseGoDuration(ttlMin) / 1e6 : undefined,
    blockingJitter: !Deno.args.includes("--no-jitter"),
  });
  console.log(JSON.stringify({ port: server.port }));
  const stop = async () => {
    await server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
