/** Demo node 3. Start it from the repository root: `deno task start config/demo/node3.ts`. */
import { defineConfig } from "../../mod.ts";
import { common, postgresqlCommon } from "./common.ts";

export default defineConfig({
  ...common,
  name: "node3",
  restapi: { listen: "127.0.0.1:8010", connectAddress: "127.0.0.1:8010" },
  postgresql: {
    ...postgresqlCommon,
    listen: "127.0.0.1:5434",
    connectAddress: "127.0.0.1:5434",
    dataDir: "data/node3",
    pgpass: "data/node3.pgpass",
  },
});
