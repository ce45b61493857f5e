import assert from "node:assert/strict";
import { AssociateAddressCommand, EC2Client } from "@aws-sdk/client-ec2";
import { mockClient } from "aws-sdk-client-mock";
import { PluginHost } from "../../src/plugins/host.ts";
import { baseContext, collectingLogger } from "../../test/plugins/fixtures/context.ts";
import { associateElasticIp } from "./associate.ts";
import { AwsEipConfigSchema, awsElasticIp } from "./mod.ts";

const INSTANCE = "i-0abc1234def567890";

/** IMDSv2 stand-in: a token from PUT /latest/api/token is required for metadata reads. */
function imds() {
  const token = crypto.randomUUID();
  const log: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    log.push(`${req.method} ${path}`);
    if (req.method === "PUT" && path === "/latest/api/token") {
      if (!req.headers.get("x-aws-ec2-metadata-token-ttl-seconds")) return new Response("", { status: 400 });
      return new Response(token);
    }
    if (req.headers.get("x-aws-ec2-metadata-token") !== token) return new Response("", { status: 401 });
    if (path === "/latest/meta-data/instance-id") return new Response(INSTANCE);
    return new Response("", { status: 404 });
  });
  return { server, log, address: `127.0.0.1:${server.addr.port}` };
}

/** EC2 Query API stand-in answering AssociateAddress. */
function ec2() {
  const calls: URLSearchParams[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const form = new URLSearchParams(await req.text());
    calls.push(form);
    if (form.get("Action") !== "AssociateAddress") return new Response("unsupported", { status: 400 });
    return new Response(
      `<?xml version="1.0" encoding="UTF-8"?>
<AssociateAddressResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
  <return>true</return>
  <associationId>eipassoc-0fe9ce90d6e7d83d7</associationId>
</AssociateAddressResponse>`,
      { headers: { "content-type": "text/xml;charset=UTF-8" } },
    );
  });
  return { server, calls, url: `http://127.0.0.1:${server.addr.port}` };
}

const creds = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG" };
const promoted = (timeline: number) => ({
  ...baseContext({ role: "primary", timeline }),
  oldRole: "replica" as const,
  newRole: "primary" as const,
});

Deno.test("associateElasticIp sends AssociateAddress with this instance and AllowReassociation", async () => {
  const md = imds();
  const mock = mockClient(EC2Client);
  try {
    mock.on(AssociateAddressCommand).resolves({ AssociationId: "eipassoc-1" });
    const config = AwsEipConfigSchema.parse({
      region: "eu-west-1",
      allocationId: "eipalloc-1",
      metadataAddress: md.address,
      credentials: creds,
    });
    const r = await associateElasticIp(new EC2Client({ region: "eu-west-1" }), config);
    assert.deepEqual(r, { instanceId: INSTANCE, associationId: "eipassoc-1" });
    assert.deepEqual(mock.commandCalls(AssociateAddressCommand).map((c) => c.args[0].input), [
      { InstanceId: INSTANCE, AllocationId: "eipalloc-1", AllowReassociation: true },
    ]);
    assert.deepEqual(md.log, ["PUT /latest/api/token", "GET /latest/meta-data/instance-id"]);

    mock.reset();
    mock.on(AssociateAddressCommand).rejects(new Error("InvalidAllocationID.NotFound"));
    await assert.rejects(
      associateElasticIp(new EC2Client({ region: "eu-west-1" }), {
        ...config,
        allocationId: undefined,
        publicIp: "203.0.113.7",
      }),
      /NotFound/,
    );
    assert.deepEqual(mock.commandCalls(AssociateAddressCommand)[0]!.args[0].input, {
      InstanceId: INSTANCE,
      PublicIp: "203.0.113.7",
      AllowReassociation: true,
    });
  } finally {
    mock.restore();
    await md.server.shutdown();
  }
});

Deno.test("config needs exactly one of allocationId and publicIp; net permission is the endpoint and IMDS", () => {
  assert.throws(() => awsElasticIp({ region: "us-east-1" }), /exactly one/);
  assert.throws(
    () => awsElasticIp({ region: "us-east-1", allocationId: "a", publicIp: "1.2.3.4" }),
    /exactly one/,
  );
  assert.deepEqual(awsElasticIp({ region: "us-east-1", publicIp: "1.2.3.4" }).permissions, {
    net: ["ec2.us-east-1.amazonaws.com", "169.254.169.254"],
  });
});

Deno.test("through the worker host, the plugin reaches exactly the EC2 endpoint and metadata service", async () => {
  const md = imds();
  const api = ec2();
  const decoy = ec2();
  const logger = collectingLogger();
  const base = {
    region: "eu-west-1",
    allocationId: "eipalloc-0f00",
    metadataAddress: md.address,
    credentials: creds,
  };
  const ok = awsElasticIp({ ...base, endpoint: api.url }, { name: "eip" });
  // The config points at another endpoint than the operator granted: the intersection excludes it.
  const misdirected = awsElasticIp({ ...base, endpoint: decoy.url }, {
    name: "eip-misdirected",
    grant: { net: [new URL(api.url).host, md.address] },
  });
  const host = new PluginHost([ok, misdirected], { logger });
  try {
    assert.deepEqual(host.permissionsOf("eip"), { net: [new URL(api.url).host, md.address] });
    const r = await host.call("eip", "onRoleChange", promoted(2));
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(api.calls.length, 1);
    const form = api.calls[0]!;
    assert.equal(form.get("AllocationId"), "eipalloc-0f00");
    assert.equal(form.get("InstanceId"), INSTANCE);
    assert.equal(form.get("AllowReassociation"), "true");
    assert.ok(
      logger.lines.some((l) =>
        l.fields.plugin === "eip" && l.fields.associationId === "eipassoc-0fe9ce90d6e7d83d7"
      ),
    );

    // afterPromote for the same promotion (timeline) does not associate twice; a later promotion does.
    assert.equal((await host.call("eip", "afterPromote", { ...promoted(2), oldLeader: "node2" })).ok, true);
    assert.equal(api.calls.length, 1);
    assert.equal((await host.call("eip", "afterPromote", { ...promoted(3), oldLeader: "node2" })).ok, true);
    assert.equal(api.calls.length, 2);
    // Becoming a replica does nothing.
    await host.call("eip", "onRoleChange", { ...promoted(3), oldRole: "primary", newRole: "replica" });
    assert.equal(api.calls.length, 2);

    const denied = await host.call("eip-misdirected", "onRoleChange", promoted(2));
    assert.equal(!denied.ok && denied.failure, "permission", JSON.stringify(denied));
    assert.equal(decoy.calls.length, 0);
    assert.ok(
      logger.lines.some((l) => l.fields.plugin === "eip-misdirected" && /denied a permission/.test(l.msg)),
    );
  } finally {
    await host.close();
    await Promise.all([md.server.shutdown(), api.server.shutdown(), decoy.server.shutdown()]);
  }
});
