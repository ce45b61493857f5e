/** The REST transport over HTTPS: a private CA (`ctl.cacert`), no verification (`-k`), and the failure message. */
import assert from "node:assert/strict";
import { fetchTransport, RestClient, RestError } from "../../src/ctl/rest.ts";

async function openssl(args: string[], cwd: string) {
  const r = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" }).output();
  if (!r.success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(r.stderr)}`);
}

async function haveOpenssl(): Promise<boolean> {
  try {
    return (await new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "HTTPS to members: trusted through ctl.cacert, accepted with --insecure, refused otherwise",
  ignore: !(await haveOpenssl()),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ctl-tls-" });
    const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
    try {
      await openssl([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=ctl-test-ca",
      ], dir);
      await openssl([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
      ], dir);
      await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
      await openssl([
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
      ], dir);
      const server = Deno.serve(
        {
          hostname: "127.0.0.1",
          port: 0,
          cert: await Deno.readTextFile(`${dir}/cert.pem`),
          key: await Deno.readTextFile(`${dir}/key.pem`),
          onListen: () => {},
        },
        async (req) =>
          new Response(
            `${req.method} ${new URL(req.url).pathname} ${await req.text()} ${
              req.headers.get("authorization")
            }`,
          ),
      );
      servers.push(server);
      const member = { name: "n1", data: { api_url: `https://127.0.0.1:${server.addr.port}/patroni` } };
      const auth = { username: "u", password: "p" };
      const expected = `POST /restart {"restart_pending":true} Basic ${btoa("u:p")}`;

      const trusted = new RestClient(fetchTransport({ cacert: `${dir}/ca.pem` }), auth);
      assert.equal(
        (await trusted.request(member, "POST", "restart", { restart_pending: true })).body,
        expected,
      );
      const insecure = new RestClient(fetchTransport({ insecure: true }), auth);
      assert.equal(
        (await insecure.request(member, "POST", "restart", { restart_pending: true })).body,
        expected,
      );
      const strict = new RestClient(fetchTransport({}), auth);
      await assert.rejects(strict.request(member, "GET"), (e: unknown) => {
        assert.ok(e instanceof RestError);
        assert.match(
          e.message,
          /^n1 \(https:\/\/127\.0\.0\.1:\d+\/patroni\): .*invalid peer certificate: UnknownIssuer/,
        );
        return true;
      });
    } finally {
      for (const s of servers) await s.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("transport failures name the member and URL; a member without api_url is refused", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const client = new RestClient(fetchTransport({}));
  await assert.rejects(
    client.request({ name: "n2", data: { api_url: `http://127.0.0.1:${port}/patroni` } }, "POST", "reload"),
    new RegExp(`^RestError: n2 \\(http://127\\.0\\.0\\.1:${port}/reload\\): .*(refused|Connection)`, "i"),
  );
  await assert.rejects(
    client.request({ name: "n3", data: {} }, "GET"),
    /n3 \(-\): the member has no api_url in the DCS/,
  );
});
