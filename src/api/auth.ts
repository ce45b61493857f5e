/**
 * Access control for the unsafe endpoints (Patroni `check_access`), in Patroni's order: source allowlist (403
 * `Access is denied`), client certificate (403 `client certificate required`), Basic auth (401 with
 * `WWW-Authenticate`). GET requests are never checked.
 */
import { lookup } from "node:dns/promises";
import type { ClusterSnapshot } from "../dcs/types.ts";
import { type ApiRequest, type ApiResponse, textResponse } from "./http.ts";

/** An address family, the network's bytes and prefix length. */
export interface IpNet {
  bytes: Uint8Array;
  prefix: number;
}

/** Parse an IPv4/IPv6 literal to bytes; IPv4-mapped IPv6 becomes IPv4. Null when not an IP literal. */
export function parseIp(text: string): Uint8Array | null {
  const s = text.trim().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? new Uint8Array(b) : null;
  }
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let head = s;
  let tail4: number[] = [];
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const v = parseIp(s.slice(lastColon + 1));
    if (!v || v.length !== 4) return null;
    tail4 = [...v];
    head = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string) => (part ? part.split(":") : []);
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...left, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...right];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[2 * i] = n >> 8;
    bytes[2 * i + 1] = n & 0xff;
  });
  if (tail4.length) bytes.set(tail4, 12);
  const mapped = bytes.slice(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

/** `10.0.0.0/8`, `::1`, `192.168.1.5` → network; null when not an IP or CIDR. */
export function parseNet(text: string): IpNet | null {
  const [addr, len] = text.split("/");
  const bytes = parseIp(addr ?? "");
  if (!bytes) return null;
  const max = bytes.length * 8;
  const prefix = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null;
  return { bytes, prefix };
}

export function ipInNet(ip: Uint8Array, net: IpNet): boolean {
  if (ip.length !== net.bytes.length) return false;
  let bits = net.prefix;
  for (let i = 0; i < ip.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (net.bytes[i]! & mask)) return false;
  }
  return true;
}

export type Resolver = (host: string) => Promise<string[]>;

/** getaddrinfo-style resolution (honours /etc/hosts), bounded to 2 s; unresolvable hosts give no address. */
export const systemResolver: Resolver = async (host) => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), 2000);
    });
    const found = await Promise.race([lookup(host, { all: true }), timeout]);
    return found.map((a) => a.address);
  } catch {
    return [];
  } finally {
    clearTimeout(timer);
  }
};

/** Allowlist entries (IPs, CIDRs or host names) to networks; names are resolved once. */
export async function buildAllowlist(
  entries: string[],
  resolve: Resolver = systemResolver,
): Promise<IpNet[]> {
  const nets: IpNet[] = [];
  for (const e of entries) {
    const net = parseNet(e);
    if (net) nets.push(net);
    else if (!e.includes("/")) {
      for (const a of await resolve(e)) {
        const n = parseNet(a);
        if (n) nets.push(n);
      }
    }
  }
  return nets;
}

/** Addresses of every member's `api_url` host (Citus groups included). */
export async function memberNets(
  s: ClusterSnapshot | null,
  resolve: Resolver = systemResolver,
): Promise<IpNet[]> {
  if (!s) return [];
  const hosts = new Set<string>();
  for (const c of [s, ...(s.groups?.values() ?? [])]) {
    for (const m of c.members) {
      if (!m.data.api_url) continue;
      try {
        const h = new URL(m.data.api_url).hostname;
        if (h) hosts.add(h);
      } catch {
        // An unparsable api_url simply adds nothing.
      }
    }
  }
  const nets: IpNet[] = [];
  for (const h of hosts) {
    const direct = parseNet(h);
    if (direct) nets.push(direct);
    else for (const a of await resolve(h)) nets.push(...[parseNet(a)].filter((n): n is IpNet => !!n));
  }
  return nets;
}

/** Compare without leaking the position of the first difference through timing. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  let diff = ea.length ^ eb.length;
  const n = Math.max(ea.length, eb.length);
  for (let i = 0; i < n; i++) diff |= (ea[i] ?? 0) ^ (eb[i] ?? 0);
  return diff === 0;
}

export interface AccessPolicy {
  /** Static allowlist (empty = none). */
  allowlist: IpNet[];
  /** Add the members' api_url hosts to the allowlist. */
  includeMembers: boolean;
  /** `base64(username:password)` when Basic auth is configured. */
  authKey: string | null;
  /** HTTPS with `verify_client` optional/required: unsafe requests need a verified client certificate. */
  requireClientCert: boolean;
}

/**
 * The refusal for an unsafe request, or null when it may proceed. `members` is computed lazily (it may
 * resolve names) and skipped for `POST /failsafe`, whose callers are not allowlisted as members.
 */
export async function checkAccess(
  req: ApiRequest,
  policy: AccessPolicy,
  opts: { members: () => Promise<IpNet[]>; checkMembers: boolean; clientCertVerified: boolean },
): Promise<ApiResponse | null> {
  const useMembers = opts.checkMembers && policy.includeMembers;
  if (policy.allowlist.length || useMembers) {
    const ip = parseIp(req.remoteIp);
    const nets = [...policy.allowlist, ...(useMembers ? await opts.members() : [])];
    if (!ip || !nets.some((n) => ipInNet(ip, n))) return textResponse(403, "Access is denied");
  }
  if (policy.requireClientCert && !opts.clientCertVerified) {
    return textResponse(403, "client certificate required");
  }
  if (policy.authKey !== null) {
    const header = req.headers.get("authorization");
    const www = { "WWW-Authenticate": 'Basic realm="Patroni"' };
    if (header === null) return textResponse(401, "no auth header received", www);
    if (!header.startsWith("Basic ") || !constantTimeEqual(header.slice(6), policy.authKey)) {
      return textResponse(401, "not authenticated", www);
    }
  }
  return null;
}

/** `base64(username:password)` as sent in a Basic `Authorization` header. */
export function basicAuthKey(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
