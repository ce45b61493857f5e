/** Pure helpers over member data: addresses, tags, slot names, sync membership. */
import type { ClusterSnapshot, Member } from "../dcs/types.ts";
import type { Upstream } from "../postgres/port.ts";
import type { NodeTags } from "./types.ts";

/** `postgres://host:port/db` → {host, port}; null when absent or malformed. */
export function connAddress(connUrl: string | undefined): { host: string; port: number } | null {
  if (!connUrl) return null;
  try {
    const u = new URL(connUrl.replace(/^postgres(ql)?:/, "http:"));
    const host = u.hostname.replace(/^\[|\]$/g, "");
    return { host, port: Number(u.port || 5432) };
  } catch {
    return null;
  }
}

/** Patroni's member slot name: lowercase, `-`/`.` → `_`, other chars → `u%04d`, at most 63 chars. */
export function slotNameFor(member: string): string {
  let out = "";
  for (const ch of member.toLowerCase()) {
    if (/[a-z0-9_]/.test(ch)) out += ch;
    else if (ch === "-" || ch === ".") out += "_";
    else out += "u" + String(ch.codePointAt(0)).padStart(4, "0");
  }
  return out.slice(0, 63);
}

export function memberUpstream(m: Member, forMember: string): Upstream | null {
  const a = connAddress(m.data.conn_url);
  return a ? { ...a, slot: slotNameFor(forMember) } : null;
}

/** Tags as Patroni reads them from member data (snake_case). */
export function memberTags(m: Member): NodeTags {
  const t = m.data.tags ?? {};
  return {
    nofailover: t.nofailover === true,
    failoverPriority: typeof t.failover_priority === "number" ? t.failover_priority : undefined,
    noloadbalance: t.noloadbalance === true,
    clonefrom: t.clonefrom === true,
    replicatefrom: typeof t.replicatefrom === "string" ? t.replicatefrom : undefined,
    nosync: t.nosync === true,
    nostream: t.nostream === true,
  };
}

/** `nofailover`, or `failover_priority <= 0` without an explicit `nofailover: false`. */
export function isNoFailover(t: NodeTags): boolean {
  if (t.nofailover !== undefined && t.nofailover !== false) return true;
  return t.failoverPriority !== undefined && t.failoverPriority <= 0 && t.nofailover !== false;
}

export function failoverPriority(t: NodeTags): number {
  return isNoFailover(t) ? 0 : (t.failoverPriority ?? 1);
}

/** Names in `sync` (leader + standbys), lowercase; empty when synchronous mode is not active. */
export function syncMembers(
  c: ClusterSnapshot,
): { leader: string | null; standbys: string[]; quorum: number } {
  const v = c.sync?.value;
  if (!v?.leader) return { leader: null, standbys: [], quorum: 0 };
  const standbys = (v.sync_standby ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  return { leader: v.leader.toLowerCase(), standbys, quorum: v.quorum ?? 0 };
}

export function findMember(c: ClusterSnapshot, name: string | null | undefined): Member | undefined {
  return name ? c.members.find((m) => m.name === name) : undefined;
}
