/**
 * `aws-eip`: when this member becomes primary, move the configured Elastic IP to its EC2 instance.
 * Network access: only the EC2 endpoint and the instance metadata service.
 *
 * @example
 * ```ts ignore
 * plugins: [awsElasticIp({ region: "eu-west-1", allocationId: "eipalloc-0123456789abcdef0" })]
 * ```
 */
import { z } from "zod";
import { definePlugin, pluginFactory } from "../../src/plugins/types.ts";

export const AwsEipConfigSchema = z.strictObject({
  region: z.string().min(1),
  allocationId: z.string().min(1).optional(),
  publicIp: z.string().min(1).optional(),
  /** EC2 endpoint URL override (VPC endpoint, tests); default `https://ec2.<region>.amazonaws.com`. */
  endpoint: z.url().optional(),
  /** `host[:port]` of the instance metadata service. */
  metadataAddress: z.string().min(1).default("169.254.169.254"),
  /** Static credentials; default: the instance role's, from the metadata service. */
  credentials: z.strictObject({
    accessKeyId: z.string().min(1),
    secretAccessKey: z.string().min(1),
    sessionToken: z.string().optional(),
  }).optional(),
}).refine((c) => !!c.allocationId !== !!c.publicIp, "expected exactly one of allocationId and publicIp");
export type AwsEipConfig = z.output<typeof AwsEipConfigSchema>;

/** `host[:port]` the EC2 client connects to. */
export function ec2Host(c: Pick<AwsEipConfig, "endpoint" | "region">): string {
  if (!c.endpoint) return `ec2.${c.region}.amazonaws.com`;
  const u = new URL(c.endpoint);
  return u.port ? `${u.hostname}:${u.port}` : u.hostname;
}

export const plugin = definePlugin({
  name: "aws-eip",
  version: "1.0.0",
  configSchema: AwsEipConfigSchema,
  permissions: (c) => ({ net: [ec2Host(c), c.metadataAddress] }),
  module: new URL("./worker.ts", import.meta.url),
  hooks: ["onRoleChange", "afterPromote"],
  // The SDK retries; its first request may also fetch role credentials.
  timeouts: { onRoleChange: 30_000, afterPromote: 30_000 },
});
export default plugin;

export const awsElasticIp = pluginFactory(plugin);
