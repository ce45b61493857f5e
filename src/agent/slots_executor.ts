/**
 * Replication slots, the I/O part (reference §3.16), run from the HA loop: on the leader after each renewal
 * (member slots, permanent physical and logical slots, and the positions it publishes in `status.slots`), on
 * replicas while following (copies of the leader's slots advanced to those positions, permanent logical slots
 * copied from the primary). The plan comes from the pure `src/ha/permanent_slots.ts`.
 *
 * A PostgreSQL port without slot positions (the simulator's) gets member slots only, as before.
 */
import type { DynamicConfig } from "../config/dynamic.ts";
import type { ClusterSnapshot } from "../dcs/types.ts";
import { findMember, memberUpstream, slotNameFor } from "../ha/members.ts";
import { planSlots, type SlotState, statusSlots } from "../ha/permanent_slots.ts";
import { restartRetainTimers, retainSlots } from "../ha/retain_slots.ts";
import { memberSlotsFor } from "../ha/slot_plan.ts";
import type { NodeTags } from "../ha/types.ts";
import type { PostgresPort, Upstream } from "../postgres/port.ts";
import type { Logger } from "./log.ts";

const COPY_RETRY_MS = 15_000;

export interface SlotsExecutorDeps {
  name: string;
  pg: PostgresPort;
  log: Logger;
  /** pg_ctl timeout for the restart that loads copied logical slots. */
  stopTimeoutS: number;
  now: () => number;
}

export class SlotsExecutor {
  /** retain_slots timers of this leadership (null: not started; seeded from `status.retain_slots`). */
  #seen: Map<string, number> | null = null;
  #retained: string[] = [];
  #warned = new Set<string>();
  /** When a copy of each logical slot was last tried (epoch ms). */
  #copyTried = new Map<string, number>();
  /** Logical slot copies that could not be advanced and must be copied again. */
  #recopy = new Set<string>();

  constructor(readonly deps: SlotsExecutorDeps) {}

  /** A leadership began: retain timers restart from the published list (Patroni). */
  resetRetainTimers(): void {
    this.#seen = null;
    this.#retained = [];
  }

  /** Member slot names seen within member_slots_ttl, ours included (`status.retain_slots`). */
  get retained(): string[] {
    return this.#retained;
  }

  /**
   * Leader: make the slots match the plan and return the positions to publish in `status.slots` (null when the
   * port cannot read positions).
   */
  async primary(
    c: ClusterSnapshot,
    d: DynamicConfig,
    tags: NodeTags,
    opts: { standbyCluster: boolean; myLsn: number },
  ): Promise<Record<string, number> | null> {
    const { pg, name } = this.deps;
    // As the leader, also in the cycle that acquired the lock (whose snapshot has no leader yet).
    const members = memberSlotsFor(c, name, name);
    if (!pg.slotStates) {
      await pg.syncReplicationSlots(members);
      return null;
    }
    let existing = await pg.slotStates();
    const now = this.deps.now();
    // The members streaming from us, and ourselves (a future leader keeps our slot while we are gone).
    // Permanent slots are kept anyway and are not member slots.
    const permanent = new Set(Object.keys(d.slots ?? {}));
    const present = [...members, slotNameFor(name)].filter((n) => !permanent.has(n));
    const kept = retainSlots({
      seen: this.#seen ?? restartRetainTimers(c.status?.retain_slots, now),
      current: present,
      // A present member streaming from another member has its slot there; one here would never advance.
      elsewhere: c.members.map((m) => slotNameFor(m.name)).filter((n) => !present.includes(n)),
      now,
      memberSlotsTtlS: d.memberSlotsTtl,
    });
    this.#seen = kept.seen;
    this.#retained = kept.retain;
    const plan = planSlots({
      c,
      me: name,
      role: "primary",
      retain: kept.retain,
      tags,
      dynamic: d,
      standbyCluster: opts.standbyCluster,
      existing,
    });
    await pg.syncReplicationSlots(plan.physical);
    for (const s of plan.dropLogical) await pg.dropSlot?.(s.name);
    // Logical slots need a primary (a standby leader cannot create them).
    if (!opts.standbyCluster) {
      for (const l of plan.logical) {
        const cur = existing.find((s) => s.name === l.name);
        if (cur && !plan.dropLogical.includes(cur)) continue;
        try {
          await pg.createLogicalSlot?.(l.name, l.database!, l.plugin!);
        } catch (e) {
          this.#warnOnce(`create:${l.name}`, `failed to create logical replication slot "${l.name}"`, e);
        }
      }
    }
    existing = await pg.slotStates();
    return statusSlots({
      me: name,
      myLsn: opts.myLsn,
      plan,
      existing,
      memberSlotsTtl: d.memberSlotsTtl,
      memberSlotNames: [...new Set([...members, ...kept.retain])],
    });
  }

  /**
   * Replica following `upstream`: keep copies of the leader's slots advanced to `status.slots`, copy missing
   * permanent logical slots from the primary and restart to load them. Returns true when it restarted.
   */
  async replica(
    c: ClusterSnapshot,
    d: DynamicConfig,
    tags: NodeTags,
    upstream: Upstream | null,
  ): Promise<boolean> {
    const { pg, name, log } = this.deps;
    if (!pg.slotStates || !c.leader) return false;
    const existing: SlotState[] = await pg.slotStates();
    const plan = planSlots({
      c,
      me: name,
      role: "replica",
      tags,
      dynamic: d,
      standbyCluster: false,
      existing,
    });
    await pg.syncReplicationSlots(plan.physical);
    for (const [slot, lsn] of Object.entries(plan.advance)) {
      const s = existing.find((x) => x.name === slot);
      try {
        await pg.advanceSlot?.(slot, s?.type === "logical" ? s.database : null, lsn);
        this.#recopy.delete(slot);
      } catch (e) {
        this.#warnOnce(`advance:${slot}`, `failed to advance replication slot "${slot}"`, e);
        // The WAL the copy needs is gone here (or the slot was invalidated): copy it again (Patroni does).
        const code = (e as { code?: unknown })?.code;
        if (s?.type === "logical" && (code === "58P01" || code === "55000")) this.#recopy.add(slot);
      }
    }
    const leader = findMember(c, c.leader.name);
    const source = leader ? memberUpstream(leader, name) : null;
    // Only slots the leader publishes exist there; a slot is tried at most every COPY_RETRY_MS (each copy
    // restarts PostgreSQL).
    const now = this.deps.now();
    const wanted = [
      ...new Set([...plan.copy, ...[...this.#recopy].filter((n) => plan.logical.some((l) => l.name === n))]),
    ];
    const copy = wanted.filter((n) =>
      c.status?.slots?.[n] !== undefined && now - (this.#copyTried.get(n) ?? -Infinity) > COPY_RETRY_MS
    );
    if (copy.length === 0 || !source || !pg.copyLogicalSlots) return false;
    // Only from the primary we stream from: a copy from anywhere else could be ahead of our WAL.
    if (!upstream || upstream.host !== source.host || upstream.port !== source.port) return false;
    for (const n of copy) this.#copyTried.set(n, now);
    // PostgreSQL reads slot state only at start: stop, write the files, start (Patroni does the same).
    log.info(`copying logical replication slots ${copy.join(", ")} from the primary (restarts PostgreSQL)`);
    await pg.stop("fast", this.deps.stopTimeoutS);
    try {
      const copied = await pg.copyLogicalSlots(source, copy);
      if (copied.length < copy.length) {
        this.#warnOnce(`missing:${copy}`, `logical slots not found on the primary: ${copy.join(", ")}`);
      }
    } catch (e) {
      this.#warnOnce("copy", "failed to copy logical replication slots from the primary", e);
    } finally {
      await pg.start({ role: "replica", upstream, timeoutS: this.deps.stopTimeoutS });
    }
    return true;
  }

  #warnOnce(key: string, msg: string, e?: unknown): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.deps.log.warn(msg, e === undefined ? {} : { error: e instanceof Error ? e.message : String(e) });
  }
}
