/** Citus example, worker group 2, node 2: `deno task start examples/citus/g2n2.ts` from the repository root. */
import { defineConfig } from "../../mod.ts";
import { citusNode } from "./common.ts";

export default defineConfig(citusNode(2, 2));
