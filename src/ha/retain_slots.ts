/**
 * Patroni 4's `retain_slots` (pure): the leader remembers when it last saw each member (itself included), and
 * keeps a member's slot for `member_slots_ttl` seconds after its key vanished, so a member that was away (a
 * crashed former primary, a node rebooting) finds its WAL still there when it comes back. The names seen within
 * the ttl are published in `status.retain_slots`; replicas keep copies of those slots, and a new leader restarts
 * their timers from that list, so the former leader's slot survives the failover.
 */

export interface RetainedSlots {
  /** Slot name → when its member was last seen (ms). */
  seen: Map<string, number>;
  /** Every slot name seen within the ttl, sorted (`status.retain_slots`). */
  retain: string[];
}

export function retainSlots(input: {
  seen: ReadonlyMap<string, number>;
  /** Slot names of the members present now (those that stream) and of the leader itself. */
  current: string[];
  /** Slot names of present members whose slot lives elsewhere (cascading, nostream): never retained here. */
  elsewhere?: string[];
  now: number;
  memberSlotsTtlS: number;
}): RetainedSlots {
  if (input.memberSlotsTtlS <= 0) return { seen: new Map(), retain: [] };
  const elsewhere = new Set(input.elsewhere ?? []);
  const seen = new Map<string, number>();
  for (const [name, at] of input.seen) {
    if (input.now - at < input.memberSlotsTtlS * 1000 && !elsewhere.has(name)) seen.set(name, at);
  }
  for (const name of input.current) seen.set(name, input.now);
  return { seen, retain: [...seen.keys()].sort() };
}

/** Timers of a new leadership: every name the previous leader published counts as seen now. */
export function restartRetainTimers(
  retained: readonly string[] | undefined,
  now: number,
): Map<string, number> {
  return new Map((retained ?? []).map((n) => [n, now]));
}
