/** Citus example, coordinator, node 2: `deno task start examples/citus/g0n2.ts` from the repository root. */
import { defineConfig } from "../../mod.ts";
import { citusNode } from "./common.ts";

export default defineConfig(citusNode(0, 2));
