/**
 * The HA decision: a pure function of one Observation. No I/O, no clock, no randomness — the same input
 * always gives the same Decision, which is what lets the simulation replay a seed and the tests be tables.
 *
 * Structure follows Patroni's cycle (reference §3): DCS unreachable → data dir empty → PostgreSQL down →
 * cluster with a leader → cluster without a leader. Messages keep Patroni's wording so log alerts still match.
 */
import { clusterTimeline } from "../dcs/snapshot.ts";
import type { ClusterSnapshot, FailoverValue, Versioned } from "../dcs/types.ts";
import type { Upstream } from "../postgres/port.ts";
import {
  failoverPriority,
  findMember,
  isNoFailover,
  memberTags,
  memberUpstream,
  slotNameFor,
  syncMembers,
} from "./members.ts";
import type { Action, CandidateVerdict, Decision, Observation, RuleOut } from "./types.ts";

export function decide(o: Observation): Decision {
  const d = decideInner(o);
  const paused = o.dynamic.pause;
  const message = paused && !d.message.startsWith("PAUSE: ") ? `PAUSE: ${d.message}` : d.message;
  return { ...d, message, at: o.now };
}

type Partial = Omit<Decision, "at">;

const none = (code: string, message: string, candidates: CandidateVerdict[] = []): Partial => ({
  action: { type: "none" },
  code,
  message,
  candidates,
});

function act(action: Action, code: string, message: string, candidates: CandidateVerdict[] = []): Partial {
  return { action, code, message, candidates };
}

function isPrimaryPg(o: Observation): boolean {
  return o.pg.running && o.pg.accepting && o.pg.inRecovery === false;
}

function decideInner(o: Observation): Partial {
  const me = o.name;
  if (o.asyncAction) return none("async_action", `${o.asyncAction} in progress`);

  if (!o.dcs.ok) return dcsUnavailable(o);
  const c = o.dcs.cluster;
  const leader = c.leader?.name ?? null;
  const iHoldLock = leader === me;
  const paused = o.dynamic.pause;

  // A data directory with a different system identifier belongs to another cluster: touch nothing.
  if (
    !o.pg.dataDirEmpty && o.pg.sysid && c.initialize && /^\d{10,}$/.test(c.initialize) &&
    c.initialize !== o.pg.sysid
  ) {
    if (iHoldLock) {
      return act(
        { type: "release_lock" },
        "sysid_mismatch",
        `system ID mismatch, node ${me} belongs to a different cluster`,
      );
    }
    return none(
      "sysid_mismatch",
      `system ID mismatch, node ${me} belongs to a different cluster: ${o.pg.sysid} != ${c.initialize}`,
    );
  }

  if (o.pg.dataDirEmpty && !o.pg.running) return emptyDataDir(o, c);

  if (!o.pg.running) return pgNotRunning(o, c);

  if (!o.pg.accepting) {
    // Started but not yet accepting connections: the holder keeps its lock alive meanwhile.
    if (iHoldLock) {
      return act(
        { type: "lead", promote: false, standbyLeader: o.standbyCluster !== null, cleanFailover: null },
        "starting",
        "PostgreSQL is still starting up",
      );
    }
    return none("starting", "PostgreSQL is still starting up");
  }

  if (leader) return o.dcs.ok && iHoldLock ? holdingLock(o, c) : followingLeader(o, c, leader);
  if (paused) {
    const sysidOk = !c.initialize || c.initialize === o.pg.sysid;
    if (isPrimaryPg(o) && sysidOk) {
      return act(
        { type: "acquire_lock", standbyLeader: false, failover: null },
        "paused_primary_takes_lock",
        "acquired session lock as a leader",
      );
    }
    return none("paused", `no action. I am (${me})`);
  }
  return noLeader(o, c);
}

function dcsUnavailable(o: Observation): Partial {
  if (isPrimaryPg(o) && !o.dynamic.pause) {
    if (o.dynamic.failsafeMode && o.failsafeAllAccepted === true) {
      return none(
        "failsafe_continue",
        "continue to run as a leader because failsafe mode is enabled and all members are accessible",
      );
    }
    return act(
      { type: "demote", mode: "offline", stop: "fast", releaseLock: false, upstream: null },
      "dcs_unavailable_demote",
      "demoted self because DCS is not accessible and I was a leader",
    );
  }
  return none("dcs_unavailable", "DCS is not accessible");
}

function emptyDataDir(o: Observation, c: ClusterSnapshot): Partial {
  const leader = c.leader?.name ?? null;
  if (leader === o.name) {
    return act(
      { type: "release_lock" },
      "empty_data_dir",
      "removed leader key because data directory is empty",
    );
  }
  if (leader) {
    const source = pickCloneSource(o, c, leader);
    if (!source) {
      return none("waiting_leader_address", `waiting for leader '${leader}' to publish its address`);
    }
    return act(
      { type: "clone", source: source.upstream, sourceName: source.name },
      "clone",
      `trying to bootstrap from ${source.name === leader ? "leader" : "replica"} '${source.name}'`,
    );
  }
  if (o.standbyCluster && c.initialize === null && o.canBootstrap) {
    return act({ type: "bootstrap" }, "bootstrap_standby", "trying to bootstrap a new standby leader");
  }
  if (c.initialize === null && o.canBootstrap && !isNoFailover(o.tags)) {
    return act({ type: "bootstrap" }, "bootstrap", "trying to bootstrap a new cluster");
  }
  return none("waiting_bootstrap", "waiting for leader to bootstrap");
}

export function pickCloneSource(
  o: Observation,
  c: ClusterSnapshot,
  leader: string,
): { name: string; upstream: Upstream } | null {
  // A running member tagged clonefrom is preferred over the leader (deterministically: lowest name).
  const clonefrom = c.members
    .filter((m) =>
      m.name !== o.name && m.name !== leader && memberTags(m).clonefrom && m.data.state === "running"
    )
    .sort((a, b) => a.name.localeCompare(b.name))[0];
  const src = clonefrom ?? findMember(c, leader);
  const up = src ? memberUpstream(src, o.name) : null;
  return src && up ? { name: src.name, upstream: { ...up, slot: undefined } } : null;
}

/** pg_control states of a data directory that last ran as primary (Patroni's recover()). */
const WAS_PRIMARY = new Set(["in production", "shutting down", "shut down", "in crash recovery"]);

function pgNotRunning(o: Observation, c: ClusterSnapshot): Partial {
  const leader = c.leader?.name ?? null;
  if (o.dynamic.pause) {
    if (leader === o.name) {
      return act(
        { type: "release_lock" },
        "paused_stopped",
        "removed leader key because postgres is not running",
      );
    }
    return none("paused_stopped", `postgres is not running`);
  }
  const timeoutS = o.dynamic.primaryStartTimeout;
  if (leader === o.name) {
    // We hold the lock but PostgreSQL died: restart it in place unless that takes longer than
    // primary_start_timeout and somebody else could take over.
    const downFor = o.memory.downSince === null ? 0 : (o.now - o.memory.downSince) / 1000;
    // primary_start_timeout 0 means "fail over at once" (Patroni), not "after the first failed start".
    if ((timeoutS === 0 || downFor > timeoutS) && failoverPossible(o, c)) {
      return act(
        { type: "release_lock" },
        "start_timeout",
        "removed leader key after trying and failing to start postgres",
      );
    }
    // A standby leader keeps following the remote primary (reference §5).
    if (o.standbyCluster) {
      return act(
        { type: "start", role: "replica", upstream: o.standbyCluster, timeoutS },
        "start_standby_leader",
        "starting as a standby leader because i had the session lock",
      );
    }
    // Only a data directory that last ran as primary may start as primary: starting a replica's data dir
    // without recovery would write on the old timeline. It starts read-only and is promoted next cycle.
    if (!WAS_PRIMARY.has(o.pg.controlState ?? "")) {
      return act(
        { type: "start", role: "replica", upstream: null, timeoutS },
        "start_readonly_holder",
        "starting as readonly because i had the session lock",
      );
    }
    return act(
      { type: "start", role: "primary", upstream: null, timeoutS },
      "restart_crashed_primary",
      "starting primary after failure",
    );
  }
  const upstream = leader ? wantedUpstream(o, c, leader) : o.standbyCluster;
  return act(
    { type: "start", role: "replica", upstream, timeoutS },
    "start_replica",
    "starting as a secondary",
  );
}

/** Where this node should stream from: replicatefrom member, the leader, the remote source, or nowhere. */
export function wantedUpstream(o: Observation, c: ClusterSnapshot, leader: string): Upstream | null {
  if (o.tags.nostream) return null;
  if (o.tags.replicatefrom && o.tags.replicatefrom !== o.name) {
    const m = findMember(c, o.tags.replicatefrom);
    if (m && m.data.state === "running") {
      const up = memberUpstream(m, o.name);
      if (up) return up;
    }
  }
  const lm = findMember(c, leader);
  return lm ? memberUpstream(lm, o.name) : null;
}

function holdingLock(o: Observation, c: ClusterSnapshot): Partial {
  const me = o.name;
  const standbyLeader = o.standbyCluster !== null;
  if (o.dynamic.pause && !isPrimaryPg(o) && !standbyLeader) {
    return act(
      { type: "release_lock" },
      "paused_not_primary",
      "removed leader lock because postgres is not running as primary",
    );
  }
  if (standbyLeader && isPrimaryPg(o) && !o.dynamic.pause) {
    // standby_cluster was added: the primary becomes the standby leader of the remote primary, keeping the
    // lock (Patroni's demote-cluster: fast stop, restart following the remote source).
    return act(
      { type: "demote", mode: "offline", stop: "fast", releaseLock: false, upstream: o.standbyCluster },
      "demote_cluster",
      "demoting primary to a standby leader because the cluster became a standby cluster",
    );
  }
  const promote = o.pg.inRecovery === true && !standbyLeader;
  const f = c.failover;
  if (f && !o.dynamic.pause && Object.keys(f.value).length > 0) {
    const manual = manualSwitchoverAsLeader(o, c, f);
    if (manual) return manual;
  }
  if (promote) {
    return act(
      { type: "lead", promote, standbyLeader, cleanFailover: null },
      "promote",
      "promoted self to leader because I had the session lock",
    );
  }
  const what = standbyLeader ? "the standby leader" : "the leader";
  return act(
    { type: "lead", promote: false, standbyLeader, cleanFailover: null },
    "steady_leader",
    `no action. I am (${me}), ${what} with the lock`,
  );
}

function manualSwitchoverAsLeader(
  o: Observation,
  c: ClusterSnapshot,
  f: Versioned<FailoverValue>,
): Partial | null {
  const me = o.name;
  const lead = (code: string, msg: string, clean: boolean): Partial =>
    act(
      {
        type: "lead",
        promote: false,
        standbyLeader: o.standbyCluster !== null,
        cleanFailover: clean ? f : null,
      },
      code,
      msg,
    );
  const candidate = f.value.member ?? f.value.candidate;
  if (f.value.scheduled_at) {
    const at = Date.parse(f.value.scheduled_at);
    if (!Number.isFinite(at)) return lead("failover_invalid", "cleaning up invalid failover key", true);
    const loopMs = o.dynamic.loopWait * 1000;
    if (at - o.now > loopMs) {
      return lead(
        "switchover_scheduled",
        `Awaiting failover at ${f.value.scheduled_at} (in ${Math.round((at - o.now) / 1000)} seconds)`,
        false,
      );
    }
    if (o.now - at > 1.5 * loopMs) {
      return lead("switchover_stale", "Found a stale failover value, cleaning up", true);
    }
    if (at > o.now) {
      return lead("switchover_scheduled", `Awaiting failover at ${f.value.scheduled_at}`, false);
    }
  }
  if (f.value.leader && f.value.leader !== me) {
    return lead("failover_not_for_me", "Failover key names another leader, cleaning up", true);
  }
  if (candidate === me) {
    return lead("failover_to_self", "Failover candidate is the current leader, cleaning up", true);
  }
  const ranked = rankFailoverCandidates(o, c, candidate);
  if (failoverPossible(o, c, candidate)) {
    const lm = ranked.find((v) => v.eligible)!;
    const target = findMember(c, lm.name);
    return act(
      {
        type: "demote",
        mode: "graceful",
        stop: "fast",
        releaseLock: true,
        upstream: target ? memberUpstream(target, me) : null,
      },
      "manual_switchover",
      "manual failover: demoting myself",
      ranked,
    );
  }
  return {
    ...lead(
      "manual_failover_impossible",
      "manual failover: no healthy members found, failover is not possible",
      true,
    ),
    candidates: ranked,
  };
}

/** Members that could take over from us right now (Patroni is_failover_possible). */
function rankFailoverCandidates(
  o: Observation,
  c: ClusterSnapshot,
  candidate: string | undefined,
): CandidateVerdict[] {
  const sync = syncMembers(c);
  const leaderLsn = o.pg.xlogLocation;
  const out: CandidateVerdict[] = [];
  for (const m of c.members) {
    if (m.name === o.name) continue;
    if (candidate && m.name !== candidate) continue;
    const p = o.peers.find((x) => x.name === m.name);
    const v = (rule?: RuleOut, detail?: string): CandidateVerdict => ({
      name: m.name,
      eligible: !rule,
      lsn: p?.lsn,
      ...(rule ? { rule, detail } : {}),
    });
    if (isNoFailover(memberTags(m)) || p?.nofailover) out.push(v("nofailover", "tagged nofailover"));
    else if (!p || !p.reachable) out.push(v("unreachable", "did not answer GET /patroni"));
    else if (p.watchdogFailed) out.push(v("watchdog", "watchdog failed"));
    else if (
      o.dynamic.synchronousMode !== "off" && sync.leader && !sync.standbys.includes(m.name.toLowerCase()) &&
      // A failover (no leader named) may go to an asynchronous member: the operator asked for it.
      !(c.failover?.value && Object.keys(c.failover.value).length && !c.failover.value.leader)
    ) {
      out.push(v("not_synchronous", "not listed in /sync"));
    } else if (leaderLsn - (p.lsn ?? 0) > o.dynamic.maximumLagOnFailover) {
      out.push(
        v(
          "lag",
          `${
            leaderLsn - (p.lsn ?? 0)
          } bytes behind, maximum_lag_on_failover ${o.dynamic.maximumLagOnFailover}`,
        ),
      );
    } else if (o.dynamic.checkTimeline && (p.timeline ?? 0) < (o.pg.timeline ?? 0)) {
      out.push(v("timeline", `timeline ${p.timeline} behind ${o.pg.timeline}`));
    } else out.push(v());
  }
  // Best first: eligible, then highest LSN, then priority, then name.
  return out.sort((a, b) =>
    Number(b.eligible) - Number(a.eligible) || (b.lsn ?? 0) - (a.lsn ?? 0) || a.name.localeCompare(b.name)
  );
}

/**
 * Can somebody else take over (Patroni is_failover_possible)? In quorum mode without a named candidate more
 * than `quorum` healthy members are needed, or none of them could collect the votes.
 */
function failoverPossible(o: Observation, c: ClusterSnapshot, candidate?: string): boolean {
  const good = rankFailoverCandidates(o, c, candidate).filter((v) => v.eligible).length;
  const sync = syncMembers(c);
  if (!candidate && o.dynamic.synchronousMode === "quorum" && sync.leader !== null) return good > sync.quorum;
  return good > 0;
}

function followingLeader(o: Observation, c: ClusterSnapshot, leader: string): Partial {
  const me = o.name;
  const upstream = wantedUpstream(o, c, leader);
  if (isPrimaryPg(o)) {
    if (o.dynamic.pause) {
      return none("paused_primary_without_lock", "continue to run as primary without lock");
    }
    return act(
      { type: "demote", mode: "immediate-nolock", stop: "immediate", releaseLock: false, upstream },
      "demote_no_lock",
      "demoting self because I do not have the lock and I was a leader",
    );
  }
  const lm = findMember(c, leader);
  const kind = lm?.data.role === "standby_leader" ? "a standby leader" : "a leader";
  return act(
    { type: "follow", upstream, leaderName: leader },
    "steady_replica",
    `no action. I am (${me}), a secondary, and following ${kind} (${leader})`,
  );
}

function noLeader(o: Observation, c: ClusterSnapshot): Partial {
  const me = o.name;
  // A replica told by the last leader (POST /failsafe) that it is still alive keeps following it.
  const fs = o.memory.failsafeLeader;
  if (fs && o.now - fs.at < o.dynamic.ttl * 1000 && fs.name !== me) {
    const m = findMember(c, fs.name);
    return act(
      { type: "follow", upstream: m ? memberUpstream(m, me) : null, leaderName: fs.name },
      "failsafe_follow",
      `no action. I am (${me}), a secondary, and following a leader (${fs.name}) in failsafe mode`,
    );
  }
  const verdict = healthiest(o, c);
  if (verdict.ok) {
    const standbyLeader = o.standbyCluster !== null;
    return act(
      { type: "acquire_lock", standbyLeader, failover: c.failover },
      isPrimaryPg(o) ? "acquire_lock_primary" : "race",
      isPrimaryPg(o)
        ? "acquired session lock as a leader"
        : standbyLeader
        ? "promoted self to a standby leader by acquiring session lock"
        : "promoted self to leader by acquiring session lock",
      verdict.candidates,
    );
  }
  const upstream = o.standbyCluster;
  if (isPrimaryPg(o) && o.standbyCluster === null) {
    // A primary that may not take the lock (stale timeline, vetoed) must not stay writable without it.
    return act(
      { type: "demote", mode: "immediate-nolock", stop: "immediate", releaseLock: false, upstream: null },
      verdict.code,
      "demoting self because i am not the healthiest node",
      verdict.candidates,
    );
  }
  const msg = verdict.notAllowed
    ? "following a different leader because I am not allowed to promote"
    : "following a different leader because i am not the healthiest node";
  return act({ type: "follow", upstream, leaderName: null }, verdict.code, msg, verdict.candidates);
}

interface Healthiest {
  ok: boolean;
  code: string;
  notAllowed?: boolean;
  candidates: CandidateVerdict[];
}

/** Patroni's is_healthiest_node (§3.4), with every ruled-out peer explained. */
export function healthiest(o: Observation, c: ClusterSnapshot): Healthiest {
  const me = o.name;
  const myLsn = o.pg.xlogLocation;
  const meVerdict = (rule?: RuleOut, detail?: string): CandidateVerdict => ({
    name: me,
    eligible: !rule,
    lsn: myLsn,
    ...(rule ? { rule, detail } : {}),
  });
  const no = (
    code: string,
    rule: RuleOut,
    detail: string,
    others: CandidateVerdict[] = [],
    notAllowed = false,
  ): Healthiest => ({
    ok: false,
    code,
    notAllowed,
    candidates: [meVerdict(rule, detail), ...others],
  });

  if (o.memory.promoteVetoedAt !== null && o.now - o.memory.promoteVetoedAt < o.dynamic.ttl * 1000) {
    return no(
      "promote_vetoed",
      "vetoed",
      "a before-promote hook vetoed promotion less than ttl ago",
      [],
      true,
    );
  }
  if (isPrimaryPg(o)) {
    const ctl = clusterTimeline(c);
    if (ctl > 0 && (o.pg.timeline ?? 0) < ctl) {
      return no("stale_primary", "timeline", `timeline ${o.pg.timeline} < cluster timeline ${ctl}`);
    }
    return { ok: true, code: "primary_races", candidates: [meVerdict()] };
  }
  if (isNoFailover(o.tags)) return no("nofailover", "nofailover", "tagged nofailover", [], true);

  const f = c.failover && Object.keys(c.failover.value).length > 0 ? c.failover.value : null;
  const sync = syncMembers(c);
  const syncActive = o.dynamic.synchronousMode !== "off" && sync.leader !== null;
  let exclude: string | null = null;
  let useLagLimit = true;
  /** We are the named candidate (quorum mode still counts votes, but priorities do not matter). */
  let targeted = false;
  // With failsafe_mode, only members listed in /failsafe got the leader's POST /failsafe and know it may still
  // be running; nobody else may race, not even a manual failover candidate (the leader could be a failsafe
  // primary that is merely cut off from the DCS).
  const failsafeListed = o.dynamic.failsafeMode && c.failsafe && Object.keys(c.failsafe).length > 0
    ? new Set(Object.keys(c.failsafe))
    : null;
  const mayRace = (n: string) => failsafeListed === null || failsafeListed.has(n);
  const quorumMode = syncActive && o.dynamic.synchronousMode === "quorum";
  if (f && !f.scheduled_at) {
    const candidate = f.member ?? f.candidate;
    // A switchover in synchronous mode goes only to a member recorded in /sync (Patroni: sync.matches).
    if (f.leader && syncActive && !inSync(sync, me)) {
      return no("not_synchronous", "not_synchronous", "switchover: not listed in /sync", [], true);
    }
    // In quorum mode a named voter may still lack commits other voters acknowledged: a leader handing over
    // gracefully leaves every streaming voter at one LSN, but when it vanished without doing so, the
    // candidate must collect the votes like anyone else. A failover (no leader named) is the operator's
    // explicit override and skips them.
    if (candidate === me && mayRace(me) && !(quorumMode && f.leader)) {
      return { ok: true, code: "manual_failover_to_me", candidates: [meVerdict()] };
    }
    targeted = candidate === me;
    if (candidate && candidate !== me) {
      if (syncActive && o.dynamic.synchronousMode === "on" && !inSync(sync, me)) {
        return no("not_synchronous", "not_synchronous", "manual failover: not in /sync");
      }
      const cp = o.peers.find((p) => p.name === candidate);
      // A switchover candidate outside /sync may not race (above): waiting for it would wait forever.
      // In quorum mode a switchover candidate behind us cannot collect our vote: do not wait for it either.
      const candidateMay = mayRace(candidate) && !(f.leader && syncActive && !inSync(sync, candidate)) &&
        !(quorumMode && f.leader && cp?.lsn !== undefined && cp.lsn < myLsn);
      if (cp?.reachable && !cp.nofailover && candidateMay) {
        return no("manual_failover_other", "priority", `manual failover to ${candidate} pending`);
      }
    }
    // Untargeted (or the named candidate is gone): compare with everyone but the old leader, without lag limit.
    exclude = f.leader ?? null;
    useLagLimit = false;
  }
  if (o.watchdog.required && !o.watchdog.usable) {
    return no("watchdog", "watchdog", "watchdog required but not usable", [], true);
  }
  if (syncActive && o.dynamic.synchronousMode === "on" && !inSync(sync, me)) {
    return no("not_synchronous", "not_synchronous", "not listed in /sync", [], true);
  }
  if (!mayRace(me)) {
    return no("failsafe_not_listed", "unreachable", "not listed in /failsafe", [], true);
  }
  const optime = c.status?.optime ?? 0;
  if (useLagLimit && optime - myLsn > o.dynamic.maximumLagOnFailover) {
    return no(
      "lag",
      "lag",
      `${
        optime - myLsn
      } bytes behind the last leader, maximum_lag_on_failover ${o.dynamic.maximumLagOnFailover}`,
    );
  }
  if (o.dynamic.checkTimeline && o.standbyCluster === null) {
    const ctl = clusterTimeline(c);
    if (!o.pg.timeline || o.pg.timeline < ctl) {
      return no("timeline", "timeline", `timeline ${o.pg.timeline} < cluster timeline ${ctl}`);
    }
  }

  // Compare with the members we know of (current + last view that had a leader).
  const names = new Set([...c.members.map((m) => m.name), ...o.memory.lastMembersWithLeader]);
  names.delete(me);
  if (exclude) names.delete(exclude);
  if (syncActive) {
    for (const n of [...names]) if (!inSync(sync, n)) names.delete(n);
  }
  const myPriority = failoverPriority(o.tags);
  const others: CandidateVerdict[] = [];
  let blocked: string | null = null;
  let votes = quorumMode ? (inSync(sync, me) ? 0 : -1) : 0;
  // The former leader is expected to be ahead or to have a higher priority; it does not block us for that.
  const formerLeader = syncActive ? sync.leader : o.memory.lastLeader?.toLowerCase() ?? null;
  for (const n of [...names].sort()) {
    const m = findMember(c, n);
    const p = o.peers.find((x) => x.name === n);
    const tags = m ? memberTags(m) : {};
    const base = { name: n, lsn: p?.lsn };
    if (!p || !p.reachable) {
      others.push({ ...base, eligible: false, rule: "unreachable", detail: "did not answer GET /patroni" });
      continue;
    }
    if (p.isPrimary) {
      others.push({ ...base, eligible: true, rule: "primary_alive", detail: "still running as primary" });
      blocked ??= "primary_alive";
      continue;
    }
    // A member missing from a non-empty /failsafe may not race (it never heard the leader's failsafe POST);
    // like nofailover it must then not block others either, or nobody could ever become leader.
    // Members that may not be promoted neither block nor vote (Patroni's failover_limitation), quorum voters
    // included: their answer says nothing about whether a promotable member holds the latest commit.
    const unlisted = failsafeListed !== null && !failsafeListed.has(n);
    const noFo = isNoFailover(tags) || p.nofailover === true || unlisted;
    if (noFo || p.watchdogFailed) {
      const [rule, detail]: [RuleOut, string] = unlisted
        ? ["unreachable", "not listed in /failsafe"]
        : noFo
        ? ["nofailover", "tagged nofailover"]
        : ["watchdog", "watchdog failed"];
      others.push({ ...base, eligible: false, rule, detail });
      continue;
    }
    const lsn = p.lsn ?? 0;
    const formerSyncLeader = syncActive && sync.leader === n.toLowerCase();
    // LSNs only compare on one history: WAL past my timeline's switch point on an older timeline was written
    // by a primary that had lost the lock and is discarded by pg_rewind; it must not block the race forever.
    const olderTimeline = p.timeline !== undefined && o.pg.timeline !== null && p.timeline < o.pg.timeline;
    // And the other way round: a member on a newer timeline has seen a promotion I have not, so whatever my
    // LSN says I may be missing commits acknowledged there (sim seed 221: a diverged ex-leader "ahead" by LSN).
    const newerTimeline = p.timeline !== undefined && o.pg.timeline !== null && p.timeline > o.pg.timeline;
    if (newerTimeline) {
      others.push({
        ...base,
        eligible: true,
        detail: `on newer timeline ${p.timeline} than mine (${o.pg.timeline})`,
      });
      blocked ??= "behind";
      continue;
    }
    if (lsn > myLsn && olderTimeline) {
      others.push({
        ...base,
        eligible: true,
        detail: `ahead of me by ${lsn - myLsn} bytes on older timeline ${p.timeline} (diverged)`,
      });
      continue;
    }
    if (lsn > myLsn && !formerSyncLeader) {
      others.push({ ...base, eligible: true, detail: `ahead of me by ${lsn - myLsn} bytes` });
      blocked ??= "behind";
      continue;
    }
    if (
      lsn === myLsn && !targeted && formerLeader !== n.toLowerCase() && (!quorumMode || inSync(sync, n)) &&
      failoverPriority({ ...tags, failoverPriority: p.failoverPriority ?? tags.failoverPriority }) >
        myPriority
    ) {
      others.push({ ...base, eligible: true, detail: "same LSN, higher failover_priority" });
      blocked ??= "priority";
      continue;
    }
    // Only a running PostgreSQL votes: a voter reporting no position may hold the latest commit.
    if (lsn > 0 && lsn <= myLsn && inSync(sync, n)) votes++;
    others.push({
      ...base,
      eligible: true,
      detail: lsn > myLsn
        ? `former leader, ahead of me by ${lsn - myLsn} bytes`
        : lsn < myLsn
        ? `behind me by ${myLsn - lsn} bytes`
        : "same LSN",
    });
  }
  if (blocked) {
    const rule = blocked as RuleOut;
    return {
      ok: false,
      code: `not_healthiest_${blocked}`,
      candidates: [meVerdict(rule, describe(rule)), ...others],
    };
  }
  if (quorumMode) {
    const iWasLeader = sync.leader === me.toLowerCase();
    if (!(votes >= sync.quorum || iWasLeader)) {
      return {
        ok: false,
        code: "quorum_votes",
        candidates: [meVerdict("not_synchronous", `${votes} votes < quorum ${sync.quorum}`), ...others],
      };
    }
  }
  return { ok: true, code: "healthiest", candidates: [meVerdict(), ...others] };
}

function describe(rule: RuleOut): string {
  switch (rule) {
    case "primary_alive":
      return "another member is still running as primary";
    case "behind":
      return "another member is ahead of me";
    case "priority":
      return "another member at the same LSN has a higher failover_priority";
    default:
      return rule;
  }
}

function inSync(sync: { leader: string | null; standbys: string[] }, name: string): boolean {
  const n = name.toLowerCase();
  return sync.leader === n || sync.standbys.includes(n);
}

/** Exposed for the executor: this node's slot name as used on its upstream. */
export { slotNameFor };
