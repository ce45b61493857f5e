/**
 * The cluster listing (patronictl `output_members`) and member selection by role, built from DCS snapshots.
 * Pure: the snapshot goes in, rows and text come out.
 */
import { activeFailover, clusterAsJson, type ClusterJson, type ClusterMemberJson } from "../api/cluster.ts";
import { type DynamicConfig, fromPatroniDynamic } from "../config/dynamic.ts";
import type { ClusterSnapshot, Member } from "../dcs/types.ts";
import { type Cell, formatOutput, type OutputFormat } from "./output.ts";

export const ROLE_CHOICES = ["leader", "primary", "standby-leader", "replica", "standby", "any"] as const;
export type RoleChoice = typeof ROLE_CHOICES[number];

const DEFAULT_DYNAMIC: DynamicConfig = fromPatroniDynamic({});

/** Every group of a snapshot, keyed by group number: `{0: s}` without Citus, plus `s.groups` with. */
export function snapshotGroups(s: ClusterSnapshot, group: number | undefined): Map<number, ClusterSnapshot> {
  const out = new Map<number, ClusterSnapshot>([[group ?? 0, s]]);
  if (group === undefined) { for (const [g, c] of s.groups ?? []) out.set(g, c); }
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

/** The member holding the leader key; a bare entry when the leader has no member key. */
export function leaderMember(s: ClusterSnapshot): Member | null {
  if (!s.leader?.name) return null;
  return s.members.find((m) => m.name === s.leader!.name) ?? { name: s.leader.name, data: {}, version: "" };
}

const isPrimaryRole = (r: unknown) => r === "primary" || r === "master";

/**
 * patronictl `get_all_members`: members with a role, over one group or (Citus, no group) all groups.
 * `leader` is any lock holder; `primary` one that is not a standby leader; `standby-leader` the reverse.
 */
export function membersWithRole(
  s: ClusterSnapshot,
  role: RoleChoice,
  group: number | undefined,
  citus: boolean,
): Member[] {
  const clusters = citus ? [...snapshotGroups(s, group).values()] : [s];
  const out: Member[] = [];
  for (const c of clusters) {
    const leader = leaderMember(c);
    if (role === "leader" || role === "primary" || role === "standby-leader") {
      if (!leader) continue;
      const r = leader.data.role;
      if (
        role === "leader" || (role === "primary" && r !== "standby_leader") ||
        (role === "standby-leader" && !isPrimaryRole(r))
      ) {
        out.push(leader);
      }
      continue;
    }
    for (const m of c.members) if (role === "any" || m.name !== leader?.name) out.push(m);
  }
  return out;
}

/** Leader first, then the other members with an API URL (patronictl `get_all_members_leader_first`). */
export function membersLeaderFirst(s: ClusterSnapshot): Member[] {
  const leader = leaderMember(s);
  const first = leader?.data.api_url ? [leader] : [];
  return [...first, ...s.members.filter((m) => m.data.api_url && m.name !== first[0]?.name)];
}

/** `host`/`port`/`dbname` of a member's `conn_url` (Patroni `Member.conn_kwargs`). */
export function connKwargs(m: Member): { host: string; port: number; dbname: string } | null {
  const url = m.data.conn_url;
  if (!url) return null;
  try {
    const u = new URL(url.replace(/^postgres(ql)?:/, "http:"));
    return {
      host: decodeURIComponent(u.hostname.replace(/^\[(.*)\]$/, "$1")),
      port: u.port ? Number(u.port) : 5432,
      dbname: decodeURIComponent(u.pathname.replace(/^\//, "")),
    };
  } catch {
    return null;
  }
}

export function dynamicOf(s: ClusterSnapshot): DynamicConfig {
  if (!s.config) return DEFAULT_DYNAMIC;
  try {
    return fromPatroniDynamic(s.config.value);
  } catch {
    return DEFAULT_DYNAMIC;
  }
}

export function isPaused(s: ClusterSnapshot): boolean {
  return s.config?.value.pause === true || s.config?.value.pause === "true";
}

export interface ListOptions {
  /** The cluster name shown in the title and the Cluster column. */
  name: string;
  fmt?: OutputFormat;
  extended?: boolean;
  /** Citus group the listing is restricted to; undefined lists every group (Citus) or the only one. */
  group?: number;
  citus?: boolean;
}

const title = (n: string) => n.toLowerCase().replace(/_/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());

/** patronictl `topology_sort`: the leader, then each member under the member it replicates from. */
export function topologySort(members: ClusterMemberJson[]): { member: ClusterMemberJson; level: number }[] {
  const leader = members.find((m) => m.role.endsWith("leader"));
  const replicas = new Set(members.filter((m) => !m.role.endsWith("leader")).map((m) => m.name));
  const children = new Map<string | null, ClusterMemberJson[]>();
  for (const m of members) {
    if (m.role.endsWith("leader")) continue;
    const from = m.tags?.replicatefrom;
    const parent = typeof from === "string" && from !== m.name && replicas.has(from)
      ? from
      : leader?.name ?? null;
    children.set(parent, [...(children.get(parent) ?? []), m]);
  }
  const out: { member: ClusterMemberJson; level: number }[] = [];
  const seen = new Set<string>();
  const walk = (name: string | null, level: number) => {
    for (const m of children.get(name) ?? []) {
      if (seen.has(m.name)) continue; // a replicatefrom cycle: show each member once
      seen.add(m.name);
      out.push({ member: m, level });
      walk(m.name, level + 1);
    }
  };
  if (leader) {
    out.push({ member: leader, level: 0 });
    seen.add(leader.name);
    walk(leader.name, 1);
  } else walk(null, 1);
  // Members on a cycle without a path from the leader.
  for (const m of members) if (!seen.has(m.name)) out.push({ member: m, level: 1 });
  return out;
}

/** The cluster state line: sysid, or `uninitialized`/`initializing`. */
export function initializeText(s: ClusterSnapshot): string {
  return s.initialize === null ? "uninitialized" : s.initialize === "" ? "initializing" : s.initialize;
}

/** Footer lines (maintenance mode, scheduled switchover) of one group, as patronictl prints them. */
export function serviceInfo(c: ClusterJson): string[] {
  const out: string[] = [];
  if (c.pause) out.push("Maintenance mode: on");
  if (c.scheduled_switchover) {
    let info = "Switchover scheduled at: " + c.scheduled_switchover.at;
    for (const k of ["from", "to"] as const) {
      const v = c.scheduled_switchover[k];
      if (v) info += `\n${k.padStart(24)}: ${v}`;
    }
    out.push(info);
  }
  return out;
}

/** The columns and rows of the listing (all formats). */
export function clusterTable(
  s: ClusterSnapshot,
  o: ListOptions,
): { columns: string[]; rows: Cell[][]; title: string } {
  const fmt = o.fmt ?? "pretty";
  const groups = o.citus ? snapshotGroups(s, o.group) : new Map([[o.group ?? 0, s]]);
  const jsons = new Map([...groups].map(([g, c]) => [g, clusterAsJson(c, dynamicOf(c))]));
  const columns = ["Cluster", "Member", "Host", "Role", "State", "TL", "Lag in MB"];
  if (o.citus) columns.splice(1, 0, "Group");
  const all = [...jsons.values()].flatMap((c) => c.members).filter((m) => m.host !== undefined);
  const extras: [string, keyof ClusterMemberJson][] = [
    ["Pending restart", "pending_restart"],
    ["Scheduled restart", "scheduled_restart"],
    ["Tags", "tags"],
  ];
  for (const [col, key] of extras) {
    if (o.extended || all.some((m) => isTruthy(m[key]))) columns.push(col);
  }
  // host:port when a port is not the default or several members share a host.
  const appendPort = all.some((m) => m.port !== undefined && m.port !== 5432) ||
    new Set(all.map((m) => m.host)).size < all.length;
  const rows: Cell[][] = [];
  for (const [g, c] of jsons) {
    const ordered = fmt === "topology"
      ? topologySort(c.members)
      : c.members.map((member) => ({ member, level: 0 }));
    for (const { member: m, level } of ordered) {
      let host = m.host ?? "";
      if (appendPort && host && m.port !== undefined) host = `${host}:${m.port}`;
      const lag = m.lag;
      let scheduled: string | undefined;
      if (m.scheduled_restart) {
        scheduled = String(m.scheduled_restart.schedule ?? "");
        if (m.scheduled_restart.postgres_version !== undefined) {
          scheduled += ` if version < ${m.scheduled_restart.postgres_version}`;
        }
      }
      const name = level > 0 ? `${" ".repeat((level - 1) * 2)}+ ${m.name}` : m.name;
      const values: Record<string, Cell> = {
        Cluster: o.name,
        Group: g,
        Member: name,
        Host: host,
        Role: title(m.role),
        State: m.state,
        TL: m.timeline ?? "",
        "Lag in MB": typeof lag === "number" ? Math.round(lag / 1024 / 1024) : lag ?? "",
        "Pending restart": m.pending_restart ? "*" : "",
        "Scheduled restart": scheduled ?? "",
        Tags: m.tags && Object.keys(m.tags).length ? m.tags : "",
      };
      rows.push(columns.map((col) => values[col]));
    }
  }
  const groupTitle = o.group === undefined ? "" : `group: ${o.group}, `;
  return {
    columns,
    rows,
    title: ` ${o.citus ? "Citus cluster" : "Cluster"}: ${o.name} (${groupTitle}${initializeText(s)}) `,
  };
}

function isTruthy(v: unknown): boolean {
  if (v && typeof v === "object") return Object.keys(v).length > 0;
  return !!v;
}

/** The whole listing as patronictl prints it: the table, then the footers in pretty/topology format. */
export function renderCluster(s: ClusterSnapshot, o: ListOptions): string {
  const fmt = o.fmt ?? "pretty";
  const t = clusterTable(s, o);
  const out = [
    formatOutput(t.columns, t.rows, {
      fmt,
      title: t.title,
      align: { Group: "r", "Lag in MB": "r", TL: "r" },
    }),
  ];
  if (fmt === "pretty" || fmt === "topology") {
    const groups = o.citus ? snapshotGroups(s, o.group) : new Map([[o.group ?? 0, s]]);
    for (const [g, c] of groups) {
      const info = serviceInfo(clusterAsJson(c, dynamicOf(c)));
      if (!info.length) continue;
      if (o.citus && o.group === undefined) out.push(`Citus group: ${g}`);
      out.push(" " + info.join("\n "));
    }
  }
  return out.join("\n");
}

/** A scheduled switchover, if the failover key holds one. */
export function scheduledSwitchover(s: ClusterSnapshot) {
  const f = activeFailover(s);
  return f?.scheduled_at ? f : null;
}
