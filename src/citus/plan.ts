/**
 * Plans the `pg_dist_node` changes that turn the current rows into the desired ones (pure).
 *
 * Rules, from how Citus behaves:
 * - A group's primary row keeps its nodeid: a new primary is `citus_update_node` of the old row, never a
 *   remove + add (removing a worker primary that holds shard placements is refused, and an update is what
 *   holds distributed queries on the group's shard locks while it happens).
 * - Citus refuses to point a row at an address another row holds ("there is already another node with the
 *   specified hostname and port"), checked per statement, even inside a transaction. So a promoted replica's
 *   secondary row is renamed first: reused for another address (typically the old primary, now a replica),
 *   or parked under a `-demoted` host name. Every group's steps run in one transaction.
 * - Unwanted secondary rows are renamed, never removed, inside that transaction: `citus_remove_node` fails
 *   while any metadata node is down, which is exactly when a group is failing over. Removals run separately
 *   afterwards and may fail without blocking anything.
 *
 * The plan is recomputed from the catalog on every pass, so an interrupted pass (a failed transaction, a crash
 * between batches) is simply resumed by the next one.
 */
import {
  addrText,
  type CatalogPlan,
  type CatalogStep,
  type DesiredGroup,
  type GroupBatch,
  type NodeAddr,
  type PgDistNode,
  sameAddr,
} from "./types.ts";

/** Host suffix that parks a row on an address nobody uses (Patroni's convention). */
export const DEMOTED_SUFFIX = "-demoted";

type Row = PgDistNode;

/** Mutable catalog simulation used while planning: steps are checked against Citus's rules as they are made. */
class Sim {
  readonly rows: Row[];
  #nextFake = -1;
  /** Addresses some desired group wants: never used for parking. */
  readonly reserved: NodeAddr[];
  constructor(rows: readonly PgDistNode[], reserved: NodeAddr[]) {
    this.rows = rows.map((r) => ({ ...r }));
    this.reserved = reserved;
  }
  holder(a: NodeAddr, except?: number): Row | undefined {
    return this.rows.find((r) => sameAddr(r, a) && r.nodeid !== except);
  }
  byId(id: number): Row {
    return this.rows.find((r) => r.nodeid === id)!;
  }
  /** A free parking address for `r`: `<host>-demoted`, then `<host>-demoted-2`, ... */
  parking(r: Row): NodeAddr {
    for (let i = 1;; i++) {
      const a = { host: `${r.host}${DEMOTED_SUFFIX}${i === 1 ? "" : `-${i}`}`, port: r.port };
      if (!this.holder(a) && !this.reserved.some((x) => sameAddr(x, a))) return a;
    }
  }
  update(id: number, a: NodeAddr, why: string, out: CatalogStep[]): void {
    const r = this.byId(id);
    out.push({ op: "update", nodeid: id, host: a.host, port: a.port, why });
    r.host = a.host;
    r.port = a.port;
  }
  add(group: number, role: "primary" | "secondary", a: NodeAddr, out: CatalogStep[]): void {
    out.push(
      group === 0 && role === "primary"
        ? { op: "set_coordinator", host: a.host, port: a.port }
        : { op: "add", group, role, host: a.host, port: a.port },
    );
    this.rows.push({ nodeid: this.#nextFake--, groupid: group, role, host: a.host, port: a.port });
  }
}

interface Assignment {
  /** Existing row to reuse, or null for a new row. */
  id: number | null;
  target: NodeAddr;
  role: "primary" | "secondary";
}

function uniqueAddrs(list: NodeAddr[], exclude: NodeAddr): NodeAddr[] {
  const out: NodeAddr[] = [];
  for (const a of list) if (!sameAddr(a, exclude) && !out.some((o) => sameAddr(o, a))) out.push(a);
  return out;
}

/**
 * Plan one group against the simulated catalog. Returns null (and the reason) when an address it needs is
 * held by another group's primary: that group has to move first.
 */
function planGroup(
  sim: Sim,
  d: DesiredGroup,
): { steps: CatalogStep[]; leftovers: number[] } | { blocked: string } {
  const g = d.group;
  const mine = sim.rows.filter((r) => r.groupid === g).sort((a, b) => a.nodeid - b.nodeid);
  const primary = mine.find((r) => r.role === "primary");
  const secondaries = mine.filter((r) => r.role === "secondary");

  const assign: Assignment[] = [{ id: primary?.nodeid ?? null, target: d.primary, role: "primary" }];
  const want = uniqueAddrs(d.secondaries, d.primary);
  const kept = new Set<number>();
  for (const a of want) {
    const r = secondaries.find((s) => !kept.has(s.nodeid) && sameAddr(s, a));
    if (r) kept.add(r.nodeid);
  }
  const free = secondaries.filter((s) => !kept.has(s.nodeid));
  for (const a of want) {
    if (secondaries.some((s) => kept.has(s.nodeid) && sameAddr(s, a))) continue;
    assign.push({ id: free.shift()?.nodeid ?? null, target: a, role: "secondary" });
  }
  const leftovers = free.map((r) => r.nodeid);
  const moving = assign.filter((x) => x.id !== null && !sameAddr(sim.byId(x.id), x.target));
  const adding = assign.filter((x) => x.id === null);
  const movingIds = new Set(moving.map((x) => x.id!));

  // Rows outside this plan holding an address it needs: secondaries may be parked, anything else blocks.
  const evict: number[] = [];
  for (const x of [...moving, ...adding]) {
    const h = sim.holder(x.target, x.id ?? undefined);
    if (!h || movingIds.has(h.nodeid)) continue;
    if (h.groupid === g && leftovers.includes(h.nodeid)) evict.push(h.nodeid);
    else if (h.groupid !== g && h.role === "secondary") evict.push(h.nodeid);
    else {
      return {
        blocked: `group ${g}: ${
          addrText(x.target)
        } is held by the ${h.role} row ${h.nodeid} of group ${h.groupid}`,
      };
    }
  }

  const steps: CatalogStep[] = [];
  for (const id of evict) sim.update(id, sim.parking(sim.byId(id)), "free its address", steps);
  const pending = [...moving];
  while (pending.length) {
    const i = pending.findIndex((x) => !sim.holder(x.target, x.id!));
    if (i >= 0) {
      const [x] = pending.splice(i, 1);
      sim.update(x!.id!, x!.target, x!.role === "primary" ? "new primary" : "secondary", steps);
      continue;
    }
    // Every remaining move waits for an address another remaining move holds (a cycle, e.g. a promoted
    // replica and the old primary trading places): park one of them to break it.
    const x = pending.find((p) => pending.some((q) => sameAddr(sim.byId(p.id!), q.target)))!;
    sim.update(x.id!, sim.parking(sim.byId(x.id!)), "free its address", steps);
  }
  for (const x of adding) sim.add(g, x.role, x.target, steps);
  return { steps, leftovers };
}

/** The plan for every desired group against `rows` (groups without a desired state are left alone). */
export function planCatalog(
  rows: readonly PgDistNode[],
  desired: ReadonlyMap<number, DesiredGroup>,
): CatalogPlan {
  const sim = new Sim(rows, [...desired.values()].flatMap((d) => [d.primary, ...d.secondaries]));
  const batches: GroupBatch[] = [];
  const leftovers: number[] = [];
  let pending = [...desired.values()].sort((a, b) => a.group - b.group);
  let blocked: string[] = [];
  // A group blocked by another group's primary may be unblocked once that group has moved: retry in rounds.
  for (let round = 0; pending.length && round <= desired.size; round++) {
    const next: DesiredGroup[] = [];
    blocked = [];
    for (const d of pending) {
      const r = planGroup(sim, d);
      if ("blocked" in r) {
        next.push(d);
        blocked.push(r.blocked);
        continue;
      }
      if (r.steps.length) batches.push({ group: d.group, steps: r.steps });
      leftovers.push(...r.leftovers);
    }
    if (next.length === pending.length) break;
    pending = next;
  }
  const removals = leftovers.map((id) => sim.byId(id)).map((r) => ({
    op: "remove" as const,
    host: r.host,
    port: r.port,
  }));
  return { batches, removals, blocked };
}
