/** Worker of the `aws-eip` plugin. */
// Must stay the first import: the AWS SDK probes process.env, os and the home directory.
import "../../src/plugins/node_compat_shim.ts";
import { serveHooks } from "../../src/plugins/worker_entry.ts";
import type { HookContext } from "../../src/plugins/types.ts";
import { associateElasticIp, ec2Client } from "./associate.ts";
import type { AwsEipConfig } from "./mod.ts";

// onRoleChange(primary) and afterPromote both report the same promotion: associate once per timeline.
let doneForTimeline: number | null | undefined;

async function becomePrimary(ctx: HookContext<"onRoleChange" | "afterPromote", AwsEipConfig>): Promise<void> {
  if (doneForTimeline !== undefined && doneForTimeline === ctx.timeline) return;
  const r = await associateElasticIp(ec2Client(ctx.config), ctx.config, { signal: ctx.signal });
  doneForTimeline = ctx.timeline;
  ctx.logger.info("associated Elastic IP with this instance", {
    instanceId: r.instanceId,
    associationId: r.associationId,
    allocationId: ctx.config.allocationId,
    publicIp: ctx.config.publicIp,
  });
}

serveHooks<AwsEipConfig>({
  onRoleChange: (ctx) => (ctx.newRole === "primary" ? becomePrimary(ctx) : undefined),
  afterPromote: (ctx) => becomePrimary(ctx),
});
