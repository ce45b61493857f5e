/** Demo node 2. Start it from the repository root: `deno task start config/demo/node2.ts`. */
import { defineConfig } from "../../mod.ts";
import { common, postgresqlCommon } from "./common.ts";

export default defineConfig({
  ...common,
  name: "node2",
  restapi: { listen: "127.0.0.1:8009", connectAddress: "127.0.0.1:8009" },
  postgresql: {
    ...postgresqlCommon,
    listen: "127.0.0.1:5433",
    connectAddress: "127.0.0.1:5433",
    dataDir: "data/node2",
    pgpass: "data/node2.pgpass",
  },
});
