/**
 * Synchronous replication, the I/O part: runs on the primary after each successful lock renewal (and before a
 * promotion), reads `pg_stat_replication` and the `sync` key, asks the pure planners in `src/ha/sync.ts` and
 * `src/ha/quorum.ts` what to do, and applies the steps in order: `sync` key writes are compare-and-set (a lost
 * CAS abandons the rest until the next cycle), `synchronous_standby_names` goes through the PostgreSQL port.
 *
 * It remembers, per SSN value in effect, the primary's flush LSN right after that value took effect and which
 * standbys have caught up with it since: only those may be recorded in `sync` (promotable).
 */
import type { DynamicConfig } from "../config/dynamic.ts";
import type { ClusterSnapshot, Dcs, SyncValue, Versioned } from "../dcs/types.ts";
import { resolveQuorum } from "../ha/quorum.ts";
import {
  type CurrentSync,
  currentSync,
  formatSsn,
  parseSsn,
  planPriority,
  prePromotePriority,
  prePromoteQuorum,
  type Readiness,
  type Ssn,
  SsnParseError,
  STRICT_PLACEHOLDER,
  strictModeStep,
  syncCandidates,
  syncKeyNames,
  syncKeyValue,
  type SyncStep,
  updateReadiness,
} from "../ha/sync.ts";
import type { PgState, PostgresPort } from "../postgres/port.ts";
import type { Clock } from "../util/clock.ts";
import type { Logger } from "./log.ts";

/** The PostgreSQL operations synchronous replication needs. */
export type SyncPg =
  & Pick<PostgresPort, "observe" | "query">
  & {
    /** `undefined` hands the setting back to the user's configuration. */
    setSynchronousStandbyNames(ssn: string | null | undefined): Promise<void>;
    /** The value in effect (`SHOW synchronous_standby_names`), when the port can tell. */
    synchronousStandbyNames?(): Promise<string>;
  };

export interface SyncExecutorDeps {
  name: string;
  dcs: Pick<Dcs, "setSyncState" | "deleteSyncState">;
  pg: SyncPg;
  clock: Clock;
  log: Logger;
  /** Delay after an SSN change before the flush LSN is captured (backends apply a reload asynchronously). */
  settleMs?: number;
  /** How long to wait for newly listed standbys to confirm before writing `sync`. @default 2000 */
  confirmWaitMs?: number;
}

const EMPTY_READINESS: Readiness = { ssn: "", flushLsnAtChange: 0, ready: [] };

export class SyncExecutor {
  #readiness: Readiness = EMPTY_READINESS;
  /** SSN we last set (the port may not be able to read it back). undefined: unknown / not ours. */
  #lastSet: string | null | undefined = undefined;
  /** We manage SSN (sync mode on); false once handed back to the user's configuration. */
  #managed: boolean | undefined = undefined;

  /** Whether `learnWhetherManaged` got its answer. */
  #learned = false;

  constructor(readonly deps: SyncExecutorDeps) {}

  /**
   * Ask once, on a quiet replica cycle, whether the server runs without SSN: a promotion with synchronous
   * mode off then needs no question between the leader lock and pg_promote(). Only this executor sets SSN,
   * and every setting of it decides `#managed`, so the answer stays true until then.
   */
  async learnWhetherManaged(): Promise<void> {
    if (this.#learned || this.#managed !== undefined || !this.deps.pg.synchronousStandbyNames) return;
    const current = await this.deps.pg.synchronousStandbyNames().catch(() => null);
    if (current === null) return; // asked again next cycle
    this.#learned = true;
    if (current === "" && this.#managed === undefined) this.#managed = false;
  }

  /** Forget what was proven: a new primary incarnation proves everything again. */
  reset(): void {
    this.#readiness = EMPTY_READINESS;
  }

  /** Primary housekeeping: bring SSN and `sync` to the wanted state. Never throws. */
  async process(c: ClusterSnapshot, d: DynamicConfig, pg: PgState): Promise<void> {
    try {
      if (d.synchronousMode === "off") return await this.#disable(c.sync);
      this.#managed = true;
      if (d.synchronousMode === "quorum") await this.#quorum(c, d, pg);
      else await this.#priority(c, d, pg);
    } catch (e) {
      this.deps.log.warn("synchronous replication step failed", {
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  /**
   * Before promoting: priority mode takes over `sync` (false when that CAS is lost: do not promote
   * now), both modes point SSN at the previous synchronous members so no commit is acknowledged by fewer.
   */
  async prePromote(c: ClusterSnapshot, d: DynamicConfig): Promise<boolean> {
    this.reset();
    const strict = d.synchronousModeStrict;
    if (d.synchronousMode === "off") {
      await this.#disable(c.sync);
      return true;
    }
    this.#managed = true;
    if (d.synchronousMode === "quorum") {
      // Record ourselves as the sync leader (CAS) before promoting, the former leader joining the voters with
      // the same quorum (the voters+leader set keeps its size, so commit and promotion quorums still overlap).
      // Otherwise the former leader, back after we promoted and wrote commits it lacks, could win a race alone
      // through the "recorded leader, nobody ahead" rule and lose them (found by the simulation, seed 274).
      const key = syncKeyNames(c.sync?.value);
      const me = this.deps.name.toLowerCase();
      if (key.leader !== null && key.leader !== me) {
        const voters = [...key.voters, key.leader].filter((n) => n !== me);
        const ok = await this.deps.dcs.setSyncState(
          syncKeyValue(this.deps.name, voters, key.quorum),
          c.sync?.version,
        );
        if (ok === null) {
          this.deps.log.info(
            "Postponing promotion because synchronous replication state was updated by somebody else",
          );
          return false;
        }
      }
      await this.#setSsn(prePromoteQuorum({ me: this.deps.name, syncKey: c.sync?.value, strict }));
      return true;
    }
    const v = prePromotePriority({ me: this.deps.name, syncKey: c.sync?.value, strict });
    const ok = await this.deps.dcs.setSyncState(v.key, c.sync?.version);
    if (ok === null) {
      this.deps.log.info(
        "Postponing promotion because synchronous replication state was updated by somebody else",
      );
      return false;
    }
    await this.#setSsn(v.ssn);
    return true;
  }

  /**
   * Before starting a crashed primary again (it holds the lock): without this it would come up with no
   * synchronous standbys and acknowledge commits that the standbys recorded in `sync`, still promotable,
   * never received. Sets SSN to the recorded standbys (or the strict placeholder) for the start.
   */
  async beforeStartAsPrimary(c: ClusterSnapshot, d: DynamicConfig): Promise<void> {
    this.reset();
    if (d.synchronousMode === "off") return;
    const key = syncKeyNames(c.sync?.value);
    if (key.leader !== null && key.leader !== this.deps.name.toLowerCase()) return;
    const quorum = d.synchronousMode === "quorum";
    const minSync = d.synchronousModeStrict ? 1 : 0;
    const num = Math.max(minSync, key.voters.length - (quorum ? key.quorum : 0));
    this.#managed = true;
    await this.#setSsn(num > 0 ? formatSsn(key.voters, { quorum, num }) : null);
  }

  // ---- internals ---------------------------------------------------------------------------------------

  async #disable(key: Versioned<SyncValue> | null): Promise<void> {
    if (key?.value.leader) {
      if (await this.deps.dcs.deleteSyncState(key.version)) {
        this.deps.log.info("Disabled synchronous replication");
      }
    }
    // Unknown after a start: a server that already runs without SSN needs no rewrite and reload (this sits
    // between the leader lock and the promotion).
    if (this.#managed === undefined && this.deps.pg.synchronousStandbyNames) {
      const current = await this.deps.pg.synchronousStandbyNames().catch(() => null);
      if (current === "") this.#managed = false;
    }
    if (this.#managed !== false) {
      await this.deps.pg.setSynchronousStandbyNames(undefined);
      this.#lastSet = undefined;
      this.#managed = false;
      this.reset();
    }
  }

  async #setSsn(ssn: string | null): Promise<void> {
    if (ssn !== null) this.deps.log.info(`Assigning synchronous_standby_names to ${ssn}`);
    await this.deps.pg.setSynchronousStandbyNames(ssn);
    this.#lastSet = ssn;
  }

  /** The SSN in effect, parsed; a change since last time captures the flush LSN it must be proven against. */
  async #ssnNow(pg: PgState): Promise<{ ssn: Ssn; pg: PgState }> {
    let raw: string;
    try {
      raw = this.deps.pg.synchronousStandbyNames
        ? await this.deps.pg.synchronousStandbyNames()
        : (this.#lastSet ?? "");
    } catch {
      raw = this.#lastSet ?? "";
    }
    let ssn: Ssn;
    try {
      ssn = parseSsn(raw);
    } catch (e) {
      if (!(e instanceof SsnParseError)) throw e;
      this.deps.log.warn(e.message);
      ssn = parseSsn("");
    }
    if (raw !== this.#readiness.ssn) {
      // Commits acknowledged before this value took effect may be missing on newly listed standbys: they count
      // only once they reach the flush LSN of this moment. Give backends time to apply the reload first, then
      // force a little WAL so standbys' positions move even on an idle primary.
      if (this.deps.settleMs) await this.deps.clock.sleep(this.deps.settleMs);
      await this.deps.pg.query(
        "DO $$BEGIN SET LOCAL synchronous_commit = 'off'; PERFORM pg_catalog.txid_current(); END;$$",
      ).catch(() => []);
      pg = await this.deps.pg.observe();
      this.#readiness = {
        ssn: raw,
        flushLsnAtChange: pg.xlogLocation,
        ready: this.#readiness.ready.filter((n) => ssn.members.includes(n)),
      };
    }
    return { ssn, pg };
  }

  async #current(c: ClusterSnapshot, d: DynamicConfig, pg0: PgState, syncKey: SyncValue | null | undefined) {
    const { ssn, pg } = await this.#ssnNow(pg0);
    const mode = d.synchronousMode === "quorum" ? "quorum" : "on";
    const { candidates, maxLsn } = syncCandidates({
      me: this.deps.name,
      members: c.members,
      replication: pg.replication,
      synchronousCommit: String(d.postgresql.parameters.synchronous_commit ?? "on"),
      primaryLsn: pg.xlogLocation,
    });
    this.#readiness = updateReadiness(this.#readiness, { mode, ssn, candidates, syncKey });
    const cur = currentSync({
      mode,
      ssn,
      candidates,
      maxLsn,
      readiness: this.#readiness,
      synchronousNodeCount: Math.max(d.synchronousNodeCount, d.synchronousModeStrict ? 1 : 0),
      maximumLagOnSyncnode: d.maximumLagOnSyncnode,
    });
    return { cur, pg };
  }

  async #priority(c: ClusterSnapshot, d: DynamicConfig, pg: PgState): Promise<void> {
    const { log, dcs, clock } = this.deps;
    let key: Versioned<SyncValue> | null = c.sync;
    const { cur } = await this.#current(c, d, pg, key?.value);
    const steps = planPriority({
      me: this.deps.name,
      cur,
      syncKey: key?.value,
      strict: d.synchronousModeStrict,
    });
    let lastKeyStandbys: string[] = syncKeyNames(key?.value).voters;
    for (const step of steps) {
      if (step.kind === "sync_key") {
        const v = syncKeyValue(step.leader, step.standbys, step.quorum);
        const version = await dcs.setSyncState(v, key?.version);
        if (version === null) return log.info("Synchronous replication key updated by someone else");
        log.info(`${step.why}: sync key now ${JSON.stringify(v)}`);
        key = { value: v, version };
        lastKeyStandbys = step.standbys;
      } else if (step.kind === "ssn") {
        await this.#setSsn(formatSsn(step.names, this.#ssnOpts(step)));
      } else if (step.kind === "confirm") {
        // Wait (bounded) for PostgreSQL to report the picked standbys synchronous and caught up.
        const deadline = clock.now() + (this.deps.confirmWaitMs ?? 2000);
        let confirmed: string[] = [];
        let picked: string[] = cur.active;
        for (;;) {
          const fresh = await this.deps.pg.observe();
          const r = await this.#current(c, d, fresh, key?.value);
          confirmed = r.cur.confirmed;
          picked = r.cur.active;
          if (picked.every((p) => confirmed.includes(p)) || clock.now() >= deadline) break;
          await clock.sleep(200);
        }
        if (confirmed.length && !sameList(confirmed, lastKeyStandbys)) {
          const v = syncKeyValue(this.deps.name, confirmed, 0);
          const version = await dcs.setSyncState(v, key?.version);
          if (version === null) return log.info("Synchronous replication key updated by someone else");
          log.info(`Synchronous standby status assigned to ${confirmed.join(",")}`);
          key = { value: v, version };
        }
      } else if (step.kind === "delete_sync_key") {
        if (key) await dcs.deleteSyncState(key.version);
      }
    }
  }

  #ssnOpts(step: Extract<SyncStep, { kind: "ssn" }>) {
    return { quorum: step.quorum, ...(step.num !== undefined ? { num: step.num } : {}) };
  }

  async #quorum(c: ClusterSnapshot, d: DynamicConfig, pg0: PgState): Promise<void> {
    const { log, dcs, clock } = this.deps;
    const started = clock.now();
    const budgetMs = d.loopWait * 1000;
    let key: Versioned<SyncValue> | null = c.sync;
    if (!key?.value.leader) {
      const v = syncKeyValue(this.deps.name, [], 0);
      const version = await dcs.setSyncState(v, key?.version);
      if (version === null) return log.warn("Updating sync state failed");
      log.info("Enabled synchronous replication");
      key = { value: v, version };
    }
    let pg = pg0;
    for (;;) {
      const r = await this.#current(c, d, pg, key.value);
      const cur: CurrentSync = r.cur;
      const k = syncKeyNames(key.value);
      if (k.leader === this.deps.name.toLowerCase()) {
        const strict = strictModeStep({
          mode: "quorum",
          strict: d.synchronousModeStrict,
          cur,
          syncKey: key.value,
        });
        if (strict.step?.kind === "ssn") {
          await this.#setSsn(formatSsn(strict.step.names, this.#ssnOpts(strict.step)));
        }
        if (strict.active) return;
      }
      const plan = resolveQuorum({
        leader: k.leader ?? this.deps.name,
        quorum: k.quorum,
        voters: k.voters,
        numsync: cur.ssn.num,
        sync: cur.sync,
        numsyncConfirmed: cur.confirmed.length,
        active: cur.active,
        syncWanted: Math.max(d.synchronousNodeCount, d.synchronousModeStrict ? 1 : 0),
        leaderWanted: this.deps.name,
      });
      let last: string = "none";
      for (const tr of plan) {
        if (clock.now() - started >= budgetMs) return;
        last = tr.type;
        if (tr.type === "quorum") {
          const v = syncKeyValue(tr.leader, tr.names, tr.num);
          const version = await dcs.setSyncState(v, key.version);
          if (version === null) return log.info("Synchronous replication key updated by someone else");
          log.info(`Setting leader to ${tr.leader}, quorum to ${tr.num} of (${tr.names.join(", ")})`);
          key = { value: v, version };
        } else if (tr.type === "sync") {
          await this.#setSsn(formatSsn(tr.names, { quorum: true, num: tr.num }));
        }
      }
      if (
        last === "none" && cur.ssn.type === "priority" && cur.sync.length &&
        !cur.sync.includes(STRICT_PLACEHOLDER)
      ) {
        // SSN in priority syntax (left from synchronous_mode: on): same names, quorum syntax.
        await this.#setSsn(formatSsn(cur.sync, { quorum: true, num: cur.ssn.num }));
      }
      // SSN just went from empty to listing standbys: they may confirm within a second; look again then.
      if (last !== "restart" || clock.now() - started + 1000 >= budgetMs) return;
      await clock.sleep(1000);
      pg = await this.deps.pg.observe();
    }
  }
}

function sameList(a: string[], b: string[]): boolean {
  const x = [...a].sort(), y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
