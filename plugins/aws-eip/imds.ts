/** Minimal IMDSv2 client: session token, instance id, instance-role credentials. */

export interface ImdsOptions {
  /** `host[:port]` of the metadata service. */
  address: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export class ImdsError extends Error {
  override name = "ImdsError";
}

async function text(res: Response, what: string): Promise<string> {
  const body = await res.text();
  if (!res.ok) throw new ImdsError(`IMDS ${what} answered ${res.status}: ${body.slice(0, 200)}`);
  return body.trim();
}

async function token(o: ImdsOptions): Promise<string> {
  const f = o.fetch ?? fetch;
  const res = await f(`http://${o.address}/latest/api/token`, {
    method: "PUT",
    headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" },
    signal: o.signal,
  });
  return await text(res, "token");
}

async function get(o: ImdsOptions, tok: string, path: string): Promise<string> {
  const f = o.fetch ?? fetch;
  const res = await f(`http://${o.address}/latest/meta-data/${path}`, {
    headers: { "X-aws-ec2-metadata-token": tok },
    signal: o.signal,
  });
  return await text(res, path);
}

export async function instanceId(o: ImdsOptions): Promise<string> {
  return await get(o, await token(o), "instance-id");
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Credentials of the instance's IAM role. */
export async function roleCredentials(o: ImdsOptions): Promise<AwsCredentials> {
  const tok = await token(o);
  const role = (await get(o, tok, "iam/security-credentials/")).split("\n")[0]!.trim();
  if (!role) throw new ImdsError("IMDS lists no instance role");
  const c = JSON.parse(await get(o, tok, `iam/security-credentials/${role}`));
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.Token,
    expiration: c.Expiration ? new Date(c.Expiration) : undefined,
  };
}
