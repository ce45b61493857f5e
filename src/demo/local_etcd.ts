/**
 * The single-member etcd the demo and the Citus example run on 127.0.0.1:2379 (an etcd already answering there
 * is used instead).
 */

export const LOCAL_ETCD = "127.0.0.1:2379";

export async function localEtcdHealthy(): Promise<boolean> {
  try {
    const r = await fetch(`http://${LOCAL_ETCD}/health`, { signal: AbortSignal.timeout(1000) });
    const body = await r.json();
    return body.health === "true" || body.health === true;
  } catch {
    return false;
  }
}

/**
 * Start etcd named `name` with its data in `dataDir` and wait until it is healthy; null when one already
 * answers. It runs in its own session: Ctrl-C signals the terminal's whole process group, and etcd must
 * outlive the agents, which release the leader key on their way out (the caller stops etcd after them).
 */
export async function startLocalEtcd(name: string, dataDir: string): Promise<Deno.ChildProcess | null> {
  if (await localEtcdHealthy()) return null;
  await Deno.mkdir(dataDir, { recursive: true });
  const args = [
    `--name=${name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=http://${LOCAL_ETCD}`,
    `--advertise-client-urls=http://${LOCAL_ETCD}`,
    "--listen-peer-urls=http://127.0.0.1:2380",
    "--initial-advertise-peer-urls=http://127.0.0.1:2380",
    `--initial-cluster=${name}=http://127.0.0.1:2380`,
  ];
  const setsid = ["/usr/bin/setsid", "/bin/setsid"].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  const child = new Deno.Command(setsid ?? "etcd", {
    args: setsid ? ["etcd", ...args] : args,
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100 && !(await localEtcdHealthy()); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await localEtcdHealthy())) {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    throw new Error(`etcd did not become healthy at ${LOCAL_ETCD}`);
  }
  return child;
}
