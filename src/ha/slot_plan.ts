/**
 * Which physical member slots a node keeps (pure). A member streams from the member its `replicatefrom` tag
 * names (when that member exists), else from the leader; `nostream` members stream from nobody. Each node keeps
 * a slot for every member streaming from it: the leader (a primary, or a standby cluster's standby leader)
 * for the members following it directly, a cascading replica for the members that named it.
 */
import type { ClusterSnapshot, Member } from "../dcs/types.ts";
import { findMember, memberTags, slotNameFor } from "./members.ts";

/**
 * Name of the member `m` streams from, or null (nostream, or no leader to follow). `leader` overrides the
 * snapshot's: a node acting as leader counts as the leader although the snapshot it read (taken before it
 * acquired the lock, in its promotion cycle) has none (Patroni decides by role too).
 */
export function streamsFrom(
  c: ClusterSnapshot,
  m: Member,
  leader: string | null = c.leader?.name ?? null,
): string | null {
  const t = memberTags(m);
  if (t.nostream) return null;
  if (t.replicatefrom && t.replicatefrom !== m.name && findMember(c, t.replicatefrom)) return t.replicatefrom;
  return leader;
}

/** Slot names `me` should hold for the members streaming from it, sorted (`leader`: as in streamsFrom). */
export function memberSlotsFor(
  c: ClusterSnapshot,
  me: string,
  leader: string | null = c.leader?.name ?? null,
): string[] {
  return c.members
    .filter((m) => m.name !== me && streamsFrom(c, m, leader) === me)
    .map((m) => slotNameFor(m.name))
    .sort();
}
