/**
 * A private test network of Linux network namespaces: one namespace per member, each with a veth pair whose
 * host end hangs on a bridge in the root namespace. Taking a member's host end down cuts it from etcd (reached
 * through the bridge address) and from every peer at once, both ways; Unix sockets stay usable, so the test
 * can still ask the cut member's PostgreSQL whether it accepts writes.
 *
 * Addresses are in a random 10.213.X.0/24 that exists only on this bridge; needs root and iproute2.
 */

export interface TestNetwork {
  /** The bridge's address in the root namespace (services for every member listen here). */
  readonly gateway: string;
  /** Member `i`'s address inside its namespace. */
  address(i: number): string;
  /** Command prefix that runs a program inside member `i`'s namespace. */
  wrap(i: number): string[];
  cut(i: number): Promise<void>;
  heal(i: number): Promise<void>;
  /** Every process running in member `i`'s namespace. */
  pids(i: number): Promise<number[]>;
  destroy(): Promise<void>;
}

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Why network namespaces cannot be used here, or null when they can. */
export async function netnsUnavailable(): Promise<string | null> {
  if (Deno.uid() !== 0) return "network namespaces need root";
  const probe = `pgwprobe${Math.floor(Math.random() * 1e6)}`;
  try {
    await ip("netns", "add", probe);
    await ip("netns", "del", probe);
    return null;
  } catch (e) {
    return `ip netns does not work here: ${e instanceof Error ? e.message : e}`;
  }
}

export async function createTestNetwork(members: number): Promise<TestNetwork> {
  const id = crypto.randomUUID().slice(0, 4);
  const subnet = `10.213.${1 + Math.floor(Math.random() * 250)}`;
  const bridge = `pgwb${id}`;
  const ns = (i: number) => `pgw${id}n${i}`;
  const hostEnd = (i: number) => `pgw${id}h${i}`;
  const created: string[] = [];
  const destroy = async () => {
    for (const n of created) await ip("netns", "del", n).catch(() => {});
    await ip("link", "del", bridge).catch(() => {});
  };
  try {
    await ip("link", "add", bridge, "type", "bridge");
    await ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    await ip("link", "set", bridge, "up");
    for (let i = 0; i < members; i++) {
      await ip("netns", "add", ns(i));
      created.push(ns(i));
      await ip("link", "add", hostEnd(i), "type", "veth", "peer", "name", `pgw${id}p${i}`);
      await ip("link", "set", `pgw${id}p${i}`, "netns", ns(i));
      await ip("link", "set", hostEnd(i), "master", bridge);
      await ip("link", "set", hostEnd(i), "up");
      await ip("-n", ns(i), "link", "set", `pgw${id}p${i}`, "name", "eth0");
      await ip("-n", ns(i), "addr", "add", `${subnet}.${11 + i}/24`, "dev", "eth0");
      await ip("-n", ns(i), "link", "set", "eth0", "up");
      await ip("-n", ns(i), "link", "set", "lo", "up");
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return {
    gateway: `${subnet}.1`,
    address: (i) => `${subnet}.${11 + i}`,
    wrap: (i) => ["ip", "netns", "exec", ns(i)],
    cut: (i) => ip("link", "set", hostEnd(i), "down"),
    heal: (i) => ip("link", "set", hostEnd(i), "up"),
    pids: async (i) => {
      const out = await new Deno.Command("ip", { args: ["netns", "pids", ns(i)], stdout: "piped" }).output();
      return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).map(Number);
    },
    destroy,
  };
}
