/** Demo node 1. Start it from the repository root: `deno task start config/demo/node1.ts`. */
import { defineConfig } from "../../mod.ts";
import { common, postgresqlCommon } from "./common.ts";

export default defineConfig({
  ...common,
  name: "node1",
  restapi: { listen: "127.0.0.1:8008", connectAddress: "127.0.0.1:8008" },
  postgresql: {
    ...postgresqlCommon,
    listen: "127.0.0.1:5432",
    connectAddress: "127.0.0.1:5432",
    dataDir: "data/node1",
    pgpass: "data/node1.pgpass",
  },
});
