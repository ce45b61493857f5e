/** Agent tests on the deterministic simulation: a converged 3-member cluster and one of its replicas. */
import { AssertionError } from "node:assert";
import { SimCluster } from "../../src/sim/cluster.ts";
import type { SimNode } from "../../src/sim/node.ts";

/** Run `fn` with a converged 3-member simulation (ttl 10, loop_wait 2) and one replica; closed afterwards. */
export async function withConvergedReplica(
  fn: (c: SimCluster, replica: SimNode) => Promise<void>,
): Promise<void> {
  const c = new SimCluster({ dcs: { ttl: 10, loopWait: 2, retryTimeout: 3 } });
  c.start();
  try {
    for (let i = 0; i < 200 && c.notConverged() !== null; i++) await c.advance(500);
    if (c.notConverged() !== null) {
      throw new AssertionError({ message: `bootstrap did not converge: ${c.notConverged()}` });
    }
    await fn(c, c.nodes.find((n) => n.name !== c.leaderName())!);
  } finally {
    c.close();
  }
}
