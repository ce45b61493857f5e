/**
 * Throwaway certificates for TLS tests (openssl CLI): a CA, a server certificate for 127.0.0.1/localhost and a
 * client certificate, all signed by that CA, written to `dir`. A second, unrelated CA is included for
 * "wrong CA" cases.
 */
export interface TestCerts {
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** A CA that signed nothing here. */
  otherCaFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export async function makeTestCerts(dir: string): Promise<TestCerts> {
  const ca = ["req", "-x509", ...KEY, "-days", "2"];
  await openssl([...ca, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=pgwarden-test-ca"], dir);
  await openssl([...ca, "-keyout", "other-ca.key", "-out", "other-ca.crt", "-subj", "/CN=other-ca"], dir);
  for (
    const [name, cn, usage] of [["server", "127.0.0.1", "serverAuth,clientAuth"], [
      "client",
      "root",
      "clientAuth",
    ]]
  ) {
    await Deno.writeTextFile(
      `${dir}/${name}.ext`,
      `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=${usage}\n`,
    );
    await openssl(
      ["req", ...KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`],
      dir,
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ], dir);
  }
  return {
    caFile: `${dir}/ca.crt`,
    caKeyFile: `${dir}/ca.key`,
    serverCertFile: `${dir}/server.crt`,
    serverKeyFile: `${dir}/server.key`,
    clientCertFile: `${dir}/client.crt`,
    clientKeyFile: `${dir}/client.key`,
    otherCaFile: `${dir}/other-ca.crt`,
  };
}
