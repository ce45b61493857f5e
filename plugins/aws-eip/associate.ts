/** The plugin's logic, independent of the worker: associate the Elastic IP with this instance. */
import { AssociateAddressCommand, EC2Client } from "@aws-sdk/client-ec2";
import { type AwsCredentials, instanceId, roleCredentials } from "./imds.ts";
import type { AwsEipConfig } from "./mod.ts";

export interface AssociateResult {
  instanceId: string;
  associationId: string | undefined;
}

/** EC2 client for the config: explicit region/endpoint/credentials, so the SDK never needs files or env. */
export function ec2Client(config: AwsEipConfig, fetchFn?: typeof fetch): EC2Client {
  const credentials = config.credentials
    ? (): Promise<AwsCredentials> => Promise.resolve({ ...config.credentials! })
    : () => roleCredentials({ address: config.metadataAddress, fetch: fetchFn });
  return new EC2Client({
    region: config.region,
    endpoint: config.endpoint ?? undefined,
    credentials,
    maxAttempts: 3,
  });
}

export async function associateElasticIp(
  client: EC2Client,
  config: AwsEipConfig,
  opts: { fetch?: typeof fetch; signal?: AbortSignal } = {},
): Promise<AssociateResult> {
  const id = await instanceId({ address: config.metadataAddress, fetch: opts.fetch, signal: opts.signal });
  const out = await client.send(
    new AssociateAddressCommand({
      InstanceId: id,
      ...(config.allocationId ? { AllocationId: config.allocationId } : { PublicIp: config.publicIp }),
      AllowReassociation: true,
    }),
    { abortSignal: opts.signal },
  );
  return { instanceId: id, associationId: out.AssociationId };
}
