/** Citus example, worker group 1, node 1: `deno task start examples/citus/g1n1.ts` from the repository root. */
import { defineConfig } from "../../mod.ts";
import { citusNode } from "./common.ts";

export default defineConfig(citusNode(1, 1));
