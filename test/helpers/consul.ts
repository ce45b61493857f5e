/** Configuration for a Consul client in tests: the minimum the schema requires plus a `consul` section. */
import { type Config, ConfigSchema } from "../../src/config/schema.ts";

export function consulTestConfig(
  hostPort: string,
  scope: string,
  consul: Record<string, unknown> = {},
): Config {
  return ConfigSchema.parse({
    name: "test",
    scope,
    consul: { host: hostPort, ...consul },
    restapi: { listen: "127.0.0.1:8008" },
    postgresql: { listen: "127.0.0.1:5432", dataDir: "/nonexistent" },
  });
}
