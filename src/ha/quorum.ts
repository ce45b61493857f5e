/**
 * Quorum commit (`synchronous_mode: quorum`, reference §4.5) as a pure resolver: from the current `sync` key
 * (leader, `quorum`, voters) and the current SSN (`ANY numsync (sync)`), produce the ordered steps that reach
 * the steady state
 *
 *     sync = voters = active,  numsync = min(synchronous_node_count, |active|),  quorum = |active| - numsync
 *
 * without ever passing through a state where a commit could be acknowledged by nodes that a promotion quorum
 * does not see. That holds while |voters ∪ {leader} ∪ sync ∪ {wanted leader}| ≤ quorum + numsync + 1 and one of
 * voters/sync contains the other: every increase is applied before the matching decrease, and nodes are added
 * to or removed from whichever side keeps the overlap.
 *
 * The executor applies the steps one by one (a CAS failure aborts the rest) and calls the resolver again next
 * time, so every prefix of a plan must be a safe state: `test/ha/quorum.test.ts` replays them all.
 */

export class QuorumError extends Error {
  override name = "QuorumError";
}

/** `quorum`: write the sync key; `sync`: write SSN; `restart`: re-read state and resolve again. */
export interface Transition {
  type: "quorum" | "sync" | "restart";
  leader: string;
  /** `quorum` for quorum transitions, `numsync` for sync transitions. */
  num: number;
  /** Voters, or SSN names; lowercased, sorted. */
  names: string[];
}

export interface QuorumInput {
  /** Leader named in the sync key. */
  leader: string;
  quorum: number;
  voters: Iterable<string>;
  /** `ANY numsync (...)` currently in effect. */
  numsync: number;
  sync: Iterable<string>;
  /** How many SSN members are known to have caught up since SSN last changed. */
  numsyncConfirmed: number;
  /** Streaming candidates eligible to be synchronous. */
  active: Iterable<string>;
  /** synchronous_node_count. */
  syncWanted: number;
  /** Us (differs from `leader` right after a failover). */
  leaderWanted: string;
}

type NameSet = Set<string>;
const set = (xs: Iterable<string>): NameSet => new Set([...xs].map((x) => x.toLowerCase()));
const sorted = (s: NameSet) => [...s].sort();
const union = (a: NameSet, b: NameSet): NameSet => new Set([...a, ...b]);
const minus = (a: NameSet, b: NameSet): NameSet => new Set([...a].filter((x) => !b.has(x)));
const inter = (a: NameSet, b: NameSet): NameSet => new Set([...a].filter((x) => b.has(x)));
const subset = (a: NameSet, b: NameSet) => [...a].every((x) => b.has(x));
const same = (a: NameSet, b: NameSet) => a.size === b.size && subset(a, b);
const strictSubset = (a: NameSet, b: NameSet) => a.size < b.size && subset(a, b);

/** Mutable resolver state; each update checks the safety invariant and records a transition. */
class State {
  leader: string;
  quorum: number;
  voters: NameSet;
  numsync: number;
  sync: NameSet;
  numsyncConfirmed: number;
  readonly active: NameSet;
  readonly syncWanted: number;
  readonly leaderWanted: string;
  readonly out: Transition[] = [];

  constructor(i: QuorumInput) {
    this.leader = i.leader.toLowerCase();
    this.quorum = i.quorum;
    this.voters = set(i.voters);
    this.sync = set(i.sync);
    // SSN can never require more standbys than it lists.
    this.numsync = Math.min(i.numsync, this.sync.size);
    this.numsyncConfirmed = i.numsyncConfirmed;
    this.active = set(i.active);
    this.syncWanted = i.syncWanted;
    this.leaderWanted = i.leaderWanted.toLowerCase();
  }

  /** The overlap invariant (see the module comment); throws QuorumError when broken. */
  check(): void {
    const voters = union(this.voters, new Set([this.leader]));
    const sync = union(this.sync, new Set([this.leaderWanted]));
    const nodes = union(voters, sync).size;
    if (this.voters.size > 0 && nodes > this.quorum + this.numsync + 1) {
      throw new QuorumError(
        `Quorum and sync not guaranteed to overlap: nodes ${nodes} > quorum ${this.quorum} + numsync ${this.numsync} + 1`,
      );
    }
    if (!subset(voters, sync) && !subset(sync, voters)) {
      throw new QuorumError(
        `Mismatched sets: voters only ${sorted(minus(voters, sync))}, sync only ${
          sorted(minus(sync, voters))
        }`,
      );
    }
  }

  /**
   * New quorum/voters (and leader). Without any confirmed standby and no voters yet, voters stay empty (no
   * node has proven anything). With `adjust`, quorum grows by the standbys not yet confirmed, so a race
   * still finds a node holding the latest commit.
   */
  setQuorum(quorum: number, voters: NameSet, opts: { leader?: string; adjust?: boolean } = {}): void {
    if (quorum < 0) throw new QuorumError(`Quorum ${quorum} < 0 of (${sorted(voters)})`);
    if (quorum > 0 && quorum >= voters.size) {
      throw new QuorumError(`Quorum ${quorum} >= N of (${sorted(voters)})`);
    }
    const oldLeader = this.leader;
    if (opts.leader !== undefined) this.leader = opts.leader;
    else if (this.numsyncConfirmed === 0 && this.voters.size === 0) {
      quorum = 0;
      voters = new Set();
    } else if (opts.adjust ?? true) quorum += Math.max(this.numsync - this.numsyncConfirmed, 0);
    if (this.leader === oldLeader && quorum === this.quorum && same(voters, this.voters)) {
      if (this.voters.size > 0) return;
      // Nothing changes while nobody is confirmed: the caller should re-read (standbys may confirm soon).
      this.out.push({ type: "restart", leader: this.leader, num: this.quorum, names: sorted(this.voters) });
    }
    this.quorum = quorum;
    this.voters = voters;
    this.check();
    this.out.push({ type: "quorum", leader: this.leader, num: quorum, names: sorted(voters) });
  }

  setSync(numsync: number, sync: NameSet): void {
    if (numsync < 0) throw new QuorumError(`Sync ${numsync} < 0 of (${sorted(sync)})`);
    if (numsync > sync.size) throw new QuorumError(`Sync ${numsync} > N of (${sorted(sync)})`);
    this.numsync = numsync;
    this.sync = sync;
    this.check();
    this.out.push({ type: "sync", leader: this.leader, num: numsync, names: sorted(sync) });
  }
}

/** Finish a transition interrupted half-way (SSN and voters differ): make them equal again. */
function repairInterrupted(s: State): void {
  if (strictSubset(s.sync, s.voters)) {
    // Voters were being changed: drop dead voters SSN does not list, then start syncing to live voters.
    const dead = minus(s.voters, union(s.sync, s.active));
    if (dead.size) {
      s.setQuorum(s.voters.size - dead.size - s.numsync, minus(s.voters, dead), {
        adjust: minus(s.sync, s.active).size === 0,
      });
    }
    const add = minus(inter(s.voters, s.active), s.sync);
    if (add.size) s.setSync(s.numsync, union(s.sync, add));
  } else if (strictSubset(s.voters, s.sync)) {
    // SSN was being changed. Drop dead SSN members first while SSN keeps common members with voters.
    const dead = minus(s.sync, s.active);
    const rest = minus(s.sync, dead);
    if (dead.size && rest.size && (s.voters.size === 0 || inter(rest, s.voters).size)) {
      s.setSync(Math.min(s.numsync, s.sync.size - dead.size), rest);
    }
    const add = inter(minus(s.sync, s.voters), s.active);
    if (add.size) {
      const voters = union(s.voters, add);
      s.setQuorum(voters.size - s.numsync, voters);
    }
    const extra = minus(s.sync, s.voters);
    if (extra.size) s.setSync(Math.min(s.numsync, s.sync.size - extra.size), minus(s.sync, extra));
  }
  if (!same(s.voters, s.sync)) throw new QuorumError(`voters ${sorted(s.voters)} != sync ${sorted(s.sync)}`);

  // Sets agree; the numbers may still be mid-change (replication factor or quorum bigger than needed).
  if (s.quorum + Math.min(s.numsync, s.numsyncConfirmed) - s.voters.size > 0) {
    if (s.numsync > s.syncWanted) s.setSync(Math.max(s.syncWanted, s.voters.size - s.quorum), s.sync);
    else s.setQuorum(s.sync.size - s.numsync, s.voters);
  } else if (
    s.numsync === s.syncWanted && s.quorum + s.numsync - s.voters.size > 0 && s.numsync > s.numsyncConfirmed
  ) {
    s.setQuorum(s.sync.size - s.numsync, s.voters);
  }
}

function removeGone(s: State): void {
  let gone = minus(s.sync, s.active);
  if (gone.size === 0) return;
  if (same(gone, s.sync)) {
    // Nobody left: clear voters first (nobody may count as having the data), then SSN.
    s.setQuorum(0, new Set(), { adjust: false });
    s.setSync(0, new Set());
    return;
  }
  if (s.quorum > 0) {
    // Removing as many as quorum allows shrinks both sides without lowering the overlap.
    const remove = new Set([...gone].sort().reverse().slice(0, s.quorum));
    const sync = minus(s.sync, remove);
    const numsync = Math.min(s.syncWanted > s.numsync ? s.syncWanted : s.numsync, sync.size);
    s.setSync(numsync, sync);
    const voters = minus(s.voters, remove);
    gone = inter(gone, s.sync);
    s.setQuorum(voters.size - s.numsync, voters, { adjust: gone.size === 0 });
  }
  if (gone.size) {
    if (s.quorum !== 0) throw new QuorumError(`cannot remove ${sorted(gone)} with quorum ${s.quorum}`);
    const numsync = s.numsync - gone.size;
    const sync = minus(s.sync, gone);
    const voters = minus(s.voters, gone);
    const decrease = numsync - Math.min(s.syncWanted, sync.size);
    s.setQuorum(decrease ? Math.min(decrease, voters.size - 1) : 0, voters, { adjust: false });
    s.setSync(numsync, sync);
  }
}

function addNew(s: State): void {
  let add = minus(s.active, s.sync);
  if (add.size === 0) return;
  const wanted = Math.min(s.syncWanted, union(s.sync, add).size);
  let increaseBy = wanted - s.numsync;
  if (increaseBy > 0) {
    // Reach the replication factor first. With SSN empty (only the leader) adding everyone at once is safe.
    const first = s.sync.size ? new Set([...add].sort().slice(0, increaseBy)) : add;
    if (s.sync.size) increaseBy = first.size;
    s.setSync(s.numsync + increaseBy, union(s.sync, first));
    const voters = union(s.voters, first);
    s.setQuorum(voters.size - wanted, voters);
    add = minus(add, s.sync);
  }
  if (add.size) {
    const voters = union(s.voters, add);
    s.setQuorum(voters.size - wanted, voters, { adjust: wanted > s.numsyncConfirmed });
    s.setSync(wanted, union(s.sync, add));
  }
}

function replicationFactor(s: State): void {
  const delta = Math.min(s.syncWanted, s.sync.size) - s.numsync;
  if (delta > 0) {
    s.setSync(s.numsync + delta, s.sync);
    s.setQuorum(s.voters.size - s.numsync, s.voters);
  } else if (delta < 0) {
    if (s.quorum - delta < s.voters.size) {
      s.setQuorum(s.voters.size - s.numsync - delta, s.voters, { adjust: s.syncWanted > s.numsyncConfirmed });
    }
    s.setSync(s.numsync + delta, s.sync);
  }
}

function generate(s: State): void {
  try {
    if (s.leaderWanted !== s.leader) {
      // After a failover the old leader joins the voters (it may hold commits others lack) and we take over.
      const voters = union(minus(s.voters, new Set([s.leaderWanted])), new Set([s.leader]));
      if (s.sync.size === 0) s.setSync(voters.size - s.quorum, voters);
      s.setQuorum(s.quorum, voters, { leader: s.leaderWanted });
      // Right after promotion replicas may not have reconnected yet: give them a cycle before evicting.
      if (inter(s.sync, s.active).size === 0) return;
    } else s.check();
  } catch (e) {
    if (!(e instanceof QuorumError)) throw e;
    s.setQuorum(s.sync.size - s.numsync, s.sync);
  }
  if (s.leader !== s.leaderWanted) throw new QuorumError(`leader ${s.leader} != ${s.leaderWanted}`);
  // After a restart of the agent nobody is known confirmed; derive it from what the key promises.
  if (s.numsyncConfirmed === 0 && inter(s.sync, s.active).size) {
    s.numsyncConfirmed = Math.min(inter(s.sync, s.active).size, s.voters.size - s.quorum);
  }
  repairInterrupted(s);
  removeGone(s);
  addNew(s);
  replicationFactor(s);
}

/**
 * The transitions from `input` towards the steady state. Consecutive transitions of one kind are merged (an
 * intermediate value nobody observed changes nothing); a `restart` ends the list.
 */
export function resolveQuorum(input: QuorumInput): Transition[] {
  const s = new State(input);
  generate(s);
  const out: Transition[] = [];
  for (let i = 0; i < s.out.length; i++) {
    const cur = s.out[i]!;
    const next = s.out[i + 1];
    if (next && next.type === cur.type) continue;
    out.push(cur);
    if (cur.type === "restart") break;
  }
  return out;
}
