import { deepStrictEqual as assertEquals, rejects as assertRejects } from "node:assert/strict";
import { ApiConfigError, parseListen, startApi } from "../../src/api/server.ts";
import { PgwardenMetrics } from "../../src/api/metrics.ts";
import type { Config } from "../../src/config/schema.ts";
import { realClock } from "../../src/util/clock.ts";
import { buildConfig, buildView, FakeAgent, memoryDcs, NOW } from "../helpers/fake_agent.ts";

/** A clock frozen at the views' `NOW` (sleeps are real; nothing here waits). */
const frozen = { now: () => NOW, sleep: realClock.sleep };

async function withServer(
  config: Config,
  fn: (url: string, agent: FakeAgent, logs: string[]) => Promise<void>,
  client?: Deno.HttpClient,
) {
  const { dcs } = memoryDcs();
  const agent = new FakeAgent(buildView("primary", { config, cluster: await dcs.getCluster() }), dcs);
  const logs: string[] = [];
  const api = await startApi(agent, config, {
    clock: frozen,
    metrics: new PgwardenMetrics(),
    log: { debug: (m) => logs.push(m), warn: (m) => logs.push(m) },
  });
  try {
    await fn(api.url, agent, logs);
  } finally {
    await api.close();
    client?.close();
  }
}

Deno.test("parseListen: host:port, bracketed IPv6, * and empty host mean all interfaces", () => {
  assertEquals(parseListen("127.0.0.1:8008"), { hostname: "127.0.0.1", port: 8008 });
  assertEquals(parseListen("[::1]:8008"), { hostname: "::1", port: 8008 });
  assertEquals(parseListen("*:8008"), { hostname: "0.0.0.0", port: 8008 });
  assertEquals(parseListen(":8008"), { hostname: "0.0.0.0", port: 8008 });
});

Deno.test("server: JSON status, Server and extra headers on normal responses, bare HEAD", async () => {
  const config = buildConfig("node1", { restapi: { httpExtraHeaders: { "X-Frame-Options": "SAMEORIGIN" } } });
  await withServer(config, async (url, _agent, logs) => {
    assertEquals(url.startsWith("http://127.0.0.1:"), true);
    let res = await fetch(`${url}/patroni`);
    const doc = await res.json();
    assertEquals([res.status, res.headers.get("content-type"), doc.role], [
      200,
      "application/json",
      "primary",
    ]);
    assertEquals(res.headers.get("server")?.startsWith("pgwarden/0.1.0 Deno/"), true);
    assertEquals(res.headers.get("x-frame-options"), "SAMEORIGIN");
    res = await fetch(`${url}/primary`, { method: "HEAD" });
    await res.body?.cancel();
    assertEquals([res.status, res.headers.get("server"), res.headers.get("x-frame-options")], [
      200,
      null,
      null,
    ]);
    res = await fetch(`${url}/replica`, { method: "OPTIONS" });
    assertEquals([res.status, await res.text()], [503, ""]);
    res = await fetch(`${url}/foo?x=1`);
    assertEquals([res.status, (await res.json()).state], [503, "running"]);
    res = await fetch(`${url}/foo`, { method: "POST", body: "{}" });
    assertEquals([res.status, await res.text()], [501, 'Not Implemented: Unsupported method ("POST")']);
    res = await fetch(`${url}/metrics`);
    const text = await res.text();
    assertEquals([res.status, res.headers.get("content-type")], [200, "text/plain"]);
    assertEquals(text.includes('patroni_primary{scope="batman",name="node1"} 1'), true);
    assertEquals(
      logs.some((l) => /^API thread: 127\.0\.0\.1 - - "GET \/foo\?x=1" 503 - latency: [\d.]+ ms$/.test(l)),
      true,
    );
  });
});

Deno.test("server: authentication over the wire; a body without Content-Length is 411", async () => {
  const config = buildConfig("node1", { restapi: { authentication: { username: "admin", password: "pw" } } });
  await withServer(config, async (url, agent) => {
    let res = await fetch(`${url}/reload`, { method: "POST" });
    assertEquals([res.status, res.headers.get("www-authenticate"), await res.text()], [
      401,
      'Basic realm="Patroni"',
      "no auth header received",
    ]);
    const authorization = "Basic " + btoa("admin:pw");
    res = await fetch(`${url}/reload`, { method: "POST", headers: { authorization } });
    assertEquals([res.status, res.headers.get("content-type"), await res.text()], [
      202,
      "text/html",
      "reload scheduled",
    ]);
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"leader":"node1"}'));
        c.close();
      },
    });
    res = await fetch(`${url}/switchover`, { method: "POST", headers: { authorization }, body: stream });
    assertEquals(res.status, 411);
    await res.body?.cancel();
    res = await fetch(`${url}/config`, { method: "PATCH", headers: { authorization }, body: "{nope" });
    assertEquals(res.status, 400);
    await res.body?.cancel();
    assertEquals(agent.calls, [{ op: "reload" }]);
  });
});

Deno.test("server: server_tokens productonly and minimal", async () => {
  for (const [tokens, want] of [["productonly", "Patroni"], ["minimal", "Patroni/0.1.0"]] as const) {
    await withServer(buildConfig("node1", { restapi: { serverTokens: tokens } }), async (url) => {
      const res = await fetch(`${url}/patroni`);
      await res.body?.cancel();
      assertEquals(res.headers.get("server"), want);
    });
  }
});

/** A CA-signed certificate for 127.0.0.1/localhost, made with openssl in a temp dir. */
async function makeCerts(dir: string, keyPassword?: string) {
  const run = async (args: string[]) => {
    const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
      .output();
    if (!out.success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  };
  await run([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=pgwarden-test-ca",
  ]);
  await run([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await run([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
  ]);
  if (keyPassword) {
    await run([
      "pkcs8",
      "-topk8",
      "-in",
      "server.key",
      "-out",
      "server.enc.key",
      "-v2",
      "aes-256-cbc",
      "-passout",
      `pass:${keyPassword}`,
    ]);
  }
  return { ca: await Deno.readTextFile(`${dir}/ca.crt`) };
}

Deno.test("server: HTTPS with certfile/keyfile, https_extra_headers, encrypted and combined keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-api-tls-" });
  try {
    const { ca } = await makeCerts(dir, "hunter2");
    const client = Deno.createHttpClient({ caCerts: [ca] });
    const config = buildConfig("node1", {
      restapi: {
        certfile: `${dir}/server.crt`,
        keyfile: `${dir}/server.key`,
        httpExtraHeaders: { "X-A": "1" },
        httpsExtraHeaders: { "Strict-Transport-Security": "max-age=31536000" },
      },
    });
    await withServer(config, async (url) => {
      assertEquals(url.startsWith("https://127.0.0.1:"), true);
      const res = await fetch(`${url}/patroni`, { client });
      assertEquals([res.status, (await res.json()).patroni.name], [200, "node1"]);
      assertEquals([res.headers.get("x-a"), res.headers.get("strict-transport-security")], [
        "1",
        "max-age=31536000",
      ]);
      // Plain HTTP against the TLS port fails.
      await assertRejects(fetch(url.replace("https:", "http:") + "/patroni").then((r) => r.text()));
    }, client);

    const encrypted = buildConfig("node1", {
      restapi: {
        certfile: `${dir}/server.crt`,
        keyfile: `${dir}/server.enc.key`,
        keyfilePassword: "hunter2",
      },
    });
    const client2 = Deno.createHttpClient({ caCerts: [ca] });
    await withServer(encrypted, async (url) => {
      const res = await fetch(`${url}/health`, { client: client2 });
      assertEquals(res.status, 200);
      await res.body?.cancel();
    }, client2);

    await Deno.writeTextFile(
      `${dir}/combined.pem`,
      (await Deno.readTextFile(`${dir}/server.crt`)) + (await Deno.readTextFile(`${dir}/server.key`)),
    );
    const client3 = Deno.createHttpClient({ caCerts: [ca] });
    await withServer(buildConfig("node1", { restapi: { certfile: `${dir}/combined.pem` } }), async (url) => {
      const res = await fetch(`${url}/leader`, { client: client3 });
      assertEquals(res.status, 200);
      await res.body?.cancel();
    }, client3);

    const wrongPassword = buildConfig("node1", {
      restapi: { certfile: `${dir}/server.crt`, keyfile: `${dir}/server.enc.key`, keyfilePassword: "nope" },
    });
    await assertRejects(withServer(wrongPassword, () => Promise.resolve()), ApiConfigError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server: verify_client optional/required is refused at start (Deno.serve cannot check client certs)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-api-tls-" });
  try {
    await makeCerts(dir);
    for (const verifyClient of ["optional", "required"] as const) {
      const config = buildConfig("node1", {
        restapi: {
          certfile: `${dir}/server.crt`,
          keyfile: `${dir}/server.key`,
          cafile: `${dir}/ca.crt`,
          verifyClient,
        },
      });
      await assertRejects(
        withServer(config, () => Promise.resolve()),
        /verify_client "(optional|required)" is not supported/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server: oversized bodies are refused unread (413); a busy port is a clear start error", async () => {
  await withServer(buildConfig("node1"), async (url, agent) => {
    const res = await fetch(`${url}/config`, { method: "PATCH", body: "x".repeat(1024 * 1024 + 1) });
    assertEquals(res.status, 413);
    await res.body?.cancel();
    assertEquals(agent.wakes, 0);
    const port = new URL(url).port;
    await assertRejects(
      withServer(buildConfig("node2", { restapi: { listen: `127.0.0.1:${port}` } }), () => Promise.resolve()),
      /Couldn't start the REST API on "127\.0\.0\.1:\d+"/,
    );
  });
});
