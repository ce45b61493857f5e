/**
 * The coordinator leader's `pg_dist_node` reconciler, and its side of a planned worker switchover.
 *
 * Reconcile pass (each HA cycle while this node leads group 0 as a writable primary): read `pg_dist_node`,
 * compute the desired rows from the DCS (`desired.ts`; confirmed by a fresh DCS read before any change),
 * plan (`plan.ts`), apply each group's batch in its own transaction, re-read to verify, then try the
 * removals. Passes are idempotent and resumable.
 *
 * Switchover (events from the worker, `POST /citus`):
 * - `before_demote`: BEGIN, park the group's primary row (`<host>-demoted`) with citus_update_node: Citus
 *   takes the group's shard locks, so distributed transactions touching the group wait on the coordinator
 *   instead of failing against a stopping primary. The transaction stays open.
 * - `before_promote`: in the same transaction (or a new one after a failover), point the primary row at the
 *   new leader and reuse the promoted replica's secondary row for the old primary.
 * - `after_promote`: COMMIT; the waiting transactions continue against the new primary.
 * The open transaction is bounded: ROLLBACK at the event's `timeout`, statements limited by
 * statement_timeout, and the server ends it by itself (idle_in_transaction_session_timeout) should this
 * process hang. While it is open, reconcile passes are skipped (Patroni skips adds/removes then too).
 */
import type { ClusterSnapshot } from "../dcs/types.ts";
import type { Logger } from "../agent/log.ts";
import type { Clock } from "../util/clock.ts";
import type { CatalogConn } from "./catalog.ts";
import { desiredGroups } from "./desired.ts";
import { type CitusEvent, CitusEventSchema } from "./events.ts";
import { DEMOTED_SUFFIX, planCatalog } from "./plan.ts";
import {
  addrOfConnUrl,
  addrText,
  type CatalogStep,
  type DesiredGroup,
  type NodeAddr,
  type PgDistNode,
  sameAddr,
} from "./types.ts";

export interface CoordinatorDeps {
  /** This node's member name and PostgreSQL address (the coordinator's primary row). */
  self: { name: string; addr: NodeAddr };
  /** `citus.secondaries`. */
  secondaries: boolean;
  /** A new connection to the local Citus database (opened lazily, reopened after failures). */
  openConn: () => CatalogConn;
  /** A fresh read of every group from the DCS (events must not act on a stale leader). */
  freshCluster: () => Promise<ClusterSnapshot>;
  /** Whether this node still leads the coordinator group as a writable primary. */
  isLeaderPrimary: () => boolean;
  /** Current `retry_timeout` (s): lock_cooldown of citus_update_node outside switchovers. */
  retryTimeoutS: () => number;
  log: Logger;
  clock: Clock;
}

interface InFlight {
  group: number;
  leader: string;
  /** The address the demoting primary had (to reuse the promoted replica's row for it). */
  demotedFrom: NodeAddr | null;
  promotedTo: NodeAddr | null;
  deadline: number;
  timer: ReturnType<typeof setTimeout>;
}

/** Extra time a statement may take beyond citus_update_node's cooldown. */
const STATEMENT_MARGIN_MS = 5000;

export class CitusCoordinator {
  #conn: CatalogConn | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #inFlight: InFlight | null = null;
  #lastWarn = new Map<string, string>();
  #closed = false;

  constructor(readonly deps: CoordinatorDeps) {}

  /** The group whose switchover transaction is open, if any (tests, /explain). */
  get inFlightGroup(): number | null {
    return this.#inFlight?.group ?? null;
  }

  /** Run `fn` after everything queued before it: one statement stream on one connection. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }

  #connection(): CatalogConn {
    this.#conn ??= this.deps.openConn();
    return this.#conn;
  }

  async #dropConnection(): Promise<void> {
    const c = this.#conn;
    this.#conn = null;
    await c?.close().catch(() => {});
  }

  /** Log a warning once per distinct message and key (a pass repeats every loop_wait). */
  #warnOnce(key: string, msg: string): void {
    if (this.#lastWarn.get(key) === msg) return;
    this.#lastWarn.set(key, msg);
    this.deps.log.warn(msg);
  }
  #clearWarn(key: string): void {
    this.#lastWarn.delete(key);
  }

  #cooldownMs(): number {
    return this.deps.retryTimeoutS() * 1000;
  }

  /**
   * One reconcile pass from the DCS view. Returns whether the catalog matched the desired state at the end
   * (removals that Citus refused do not count against it). Skipped while a switchover transaction is open.
   */
  reconcile(cluster: ClusterSnapshot): Promise<boolean> {
    return this.#serial(async () => {
      if (this.#closed || this.#inFlight || !this.deps.isLeaderPrimary()) return false;
      try {
        const ok = await this.#reconcile(cluster);
        this.#clearWarn("reconcile");
        return ok;
      } catch (e) {
        this.#warnOnce("reconcile", `Citus: could not reconcile pg_dist_node: ${errText(e)}`);
        await this.#dropConnection();
        return false;
      }
    });
  }

  async #reconcile(cluster: ClusterSnapshot): Promise<boolean> {
    const opts = { secondaries: this.deps.secondaries };
    let desired = desiredGroups(cluster, this.deps.self, opts);
    const conn = this.#connection();
    const cooldown = this.#cooldownMs();
    // The HA cycle's snapshot may predate a switchover the events just committed (it would move the primary
    // row back to the old primary): before changing anything, act on a fresh read. Reads and events are
    // serialised, so that read is newer than any event handled so far.
    const first = planCatalog(await conn.readNodes(), desired);
    if (first.batches.length || first.removals.length) {
      desired = desiredGroups(await this.deps.freshCluster(), this.deps.self, opts);
    }
    // Each pass re-reads the catalog: the second one verifies what the first applied.
    for (let pass = 0; pass < 3; pass++) {
      const rows = await conn.readNodes();
      const plan = planCatalog(rows, desired);
      if (plan.blocked.length) this.#warnOnce("blocked", `Citus: ${plan.blocked.join("; ")}`);
      else this.#clearWarn("blocked");
      if (!plan.batches.length) {
        await this.#removeAll(conn, plan.removals, cooldown);
        return true;
      }
      for (const b of plan.batches) {
        await conn.begin({ statementTimeoutMs: cooldown + STATEMENT_MARGIN_MS, idleTimeoutMs: 10_000 });
        try {
          for (const s of b.steps) {
            await conn.apply(s, cooldown);
            this.deps.log.info(`Citus: group ${b.group}: ${describe(s)}`);
          }
          await conn.commit();
        } catch (e) {
          await conn.rollback().catch(() => {});
          throw e;
        }
      }
    }
    this.#warnOnce("reconcile", "Citus: pg_dist_node did not converge in 3 passes");
    return false;
  }

  async #removeAll(conn: CatalogConn, removals: CatalogStep[], cooldown: number): Promise<void> {
    for (const r of removals) {
      try {
        await conn.apply(r, cooldown);
        this.deps.log.info(`Citus: ${describe(r)}`);
        this.#clearWarn(`remove ${describe(r)}`);
      } catch (e) {
        // Citus refuses while a metadata node is down: the row stays parked and the next pass retries.
        this.#warnOnce(`remove ${describe(r)}`, `Citus: ${describe(r)} failed: ${errText(e)}`);
      }
    }
  }

  /** `POST /citus`. Always answers `OK` (like Patroni); what was done is logged. */
  async handleEvent(body: unknown): Promise<{ status: number; message: string }> {
    const ok = { status: 200, message: "OK" };
    const parsed = CitusEventSchema.safeParse(body);
    if (!parsed.success) {
      this.deps.log.warn(`Citus: ignoring malformed event ${JSON.stringify(body)}`);
      return ok;
    }
    const ev = parsed.data;
    if (this.#closed || !this.deps.isLeaderPrimary()) {
      this.deps.log.info(`Citus: not the coordinator leader, discarding event ${JSON.stringify(ev)}`);
      return ok;
    }
    let cluster: ClusterSnapshot;
    try {
      cluster = await this.deps.freshCluster();
    } catch (e) {
      this.deps.log.warn(
        `Citus: cannot read the DCS for event ${ev.type} of group ${ev.group}: ${errText(e)}`,
      );
      return ok;
    }
    const worker = cluster.groups?.get(ev.group);
    const leaderMember = worker?.leader?.name === ev.leader
      ? worker.members.find((m) => m.name === ev.leader)
      : undefined;
    const addr = addrOfConnUrl(leaderMember?.data.conn_url);
    if (!worker || !addr) {
      this.deps.log.info(`Citus: ${ev.leader} does not lead group ${ev.group}, discarding event ${ev.type}`);
      return ok;
    }
    await this.#serial(async () => {
      if (this.#closed || !this.deps.isLeaderPrimary()) return;
      try {
        await this.#event(ev, addr, worker);
      } catch (e) {
        this.deps.log.warn(`Citus: event ${ev.type} of group ${ev.group} failed: ${errText(e)}`);
        await this.#abort("after the failure");
      }
    });
    return ok;
  }

  async #event(ev: CitusEvent, addr: NodeAddr, worker: ClusterSnapshot): Promise<void> {
    const { log } = this.deps;
    const f = this.#inFlight;
    if (f && f.group !== ev.group) {
      log.warn(`Citus: group ${f.group} is switching over; discarding ${ev.type} of group ${ev.group}`);
      return;
    }
    const cooldownMs = ev.cooldown * 1000;
    switch (ev.type) {
      case "before_demote": {
        if (f) return; // repeated
        const conn = this.#connection();
        await this.#begin(ev);
        const rows = await conn.readNodes();
        const p = primaryRow(rows, ev.group);
        if (!p || !sameAddr(p, addr)) {
          log.info(`Citus: group ${ev.group}'s primary row is not ${addrText(addr)}; nothing to hold`);
          return await this.#abort("");
        }
        const parked = parkingAddr(rows, p);
        await conn.apply({ op: "update", nodeid: p.nodeid, ...parked, why: "demoting" }, cooldownMs);
        this.#inFlight!.demotedFrom = addr;
        log.info(
          `Citus: group ${ev.group}: holding distributed transactions while ${ev.leader} demotes ` +
            `(primary row ${p.nodeid} parked as ${addrText(parked)}, up to ${ev.timeout} s)`,
        );
        return;
      }
      case "before_promote": {
        if (!f) await this.#begin(ev);
        await this.#repoint(ev, addr, worker, cooldownMs);
        return;
      }
      case "after_promote": {
        if (!f) return; // nothing held: the next reconcile pass registers the new primary
        if (!f.promotedTo || !sameAddr(f.promotedTo, addr)) await this.#repoint(ev, addr, worker, cooldownMs);
        await this.#connection().commit();
        clearTimeout(f.timer);
        this.#inFlight = null;
        log.info(`Citus: group ${ev.group}: primary is now ${ev.leader} (${addrText(addr)}); committed`);
        return;
      }
    }
  }

  async #begin(ev: CitusEvent): Promise<void> {
    const timeoutMs = ev.timeout * 1000;
    await this.#connection().begin({
      statementTimeoutMs: Math.min(timeoutMs, ev.cooldown * 1000 + STATEMENT_MARGIN_MS),
      // The server's own bound, should this process stop answering.
      idleTimeoutMs: timeoutMs + 2000,
    });
    const f: InFlight = {
      group: ev.group,
      leader: ev.leader,
      demotedFrom: null,
      promotedTo: null,
      deadline: this.deps.clock.now() + timeoutMs,
      timer: setTimeout(() => {
        this.#serial(async () => {
          if (this.#inFlight !== f) return;
          await this.#abort(`: no after_promote from group ${f.group} within ${ev.timeout} s`);
        });
      }, timeoutMs),
    };
    this.#inFlight = f;
  }

  /** Point the group's primary row at `addr` inside the open transaction. */
  async #repoint(ev: CitusEvent, addr: NodeAddr, worker: ClusterSnapshot, cooldownMs: number): Promise<void> {
    const f = this.#inFlight!;
    const conn = this.#connection();
    const rows = await conn.readNodes();
    const known = worker.members.map((m) => addrOfConnUrl(m.data.conn_url)).filter((a): a is NodeAddr => !!a);
    // Keep the secondary rows that still name a member; the old primary becomes a secondary.
    const secondaries = this.deps.secondaries
      ? [
        ...rows.filter((r) =>
          r.groupid === ev.group && r.role === "secondary" && known.some((k) => sameAddr(k, r))
        )
          .map((r) => ({ host: r.host, port: r.port })),
        ...(f.demotedFrom ? [f.demotedFrom] : []),
      ].filter((a) => !sameAddr(a, addr))
      : [];
    const desired: DesiredGroup = { group: ev.group, primary: addr, secondaries };
    const plan = planCatalog(rows, new Map([[ev.group, desired]]));
    if (plan.blocked.length) throw new Error(plan.blocked.join("; "));
    for (const b of plan.batches) {
      for (const s of b.steps) {
        await conn.apply(s, cooldownMs);
        this.deps.log.info(`Citus: group ${b.group}: ${describe(s)} (in the switchover transaction)`);
      }
    }
    f.promotedTo = addr;
  }

  /** ROLLBACK the open switchover transaction (if any). */
  async #abort(why: string): Promise<void> {
    const f = this.#inFlight;
    this.#inFlight = null;
    if (f) clearTimeout(f.timer);
    try {
      await this.#conn?.rollback();
    } catch {
      await this.#dropConnection();
    }
    if (f && why) {
      this.deps.log.warn(`Citus: rolled back the switchover transaction of group ${f.group}${why}`);
    }
  }

  /** This node no longer leads the coordinator: let go of the transaction and the connection. */
  stepDown(): Promise<void> {
    return this.#serial(async () => {
      await this.#abort(" (no longer the coordinator leader)");
      await this.#dropConnection();
    });
  }

  async close(): Promise<void> {
    await this.stepDown();
    this.#closed = true;
  }
}

function primaryRow(rows: PgDistNode[], group: number): PgDistNode | undefined {
  return rows.filter((r) => r.groupid === group && r.role === "primary").sort((a, b) =>
    a.nodeid - b.nodeid
  )[0];
}

/** `<host>-demoted` (or a numbered variant) that no row holds. */
function parkingAddr(rows: PgDistNode[], r: NodeAddr): NodeAddr {
  for (let i = 1;; i++) {
    const a = { host: `${r.host}${DEMOTED_SUFFIX}${i === 1 ? "" : `-${i}`}`, port: r.port };
    if (!rows.some((x) => sameAddr(x, a))) return a;
  }
}

export function describe(s: CatalogStep): string {
  switch (s.op) {
    case "add":
      return `citus_add_node(${addrText(s)}, group ${s.group}, ${s.role})`;
    case "set_coordinator":
      return `citus_set_coordinator_host(${addrText(s)})`;
    case "update":
      return `citus_update_node(${s.nodeid} -> ${addrText(s)}): ${s.why}`;
    case "remove":
      return `citus_remove_node(${addrText(s)})`;
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
