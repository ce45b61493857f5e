/** Choosing the members an operation applies to (patronictl `get_members` / `confirm_members_action`). */
import type { ClusterSnapshot, Member } from "../dcs/types.ts";
import { type CtlContext, CtlError } from "./context.ts";
import { confirm, prompt } from "./io.ts";
import { membersWithRole, renderCluster, type RoleChoice } from "./members.ts";

export interface SelectOptions {
  cluster: string;
  names: string[];
  role: RoleChoice;
  force: boolean;
  /** Verb used in questions: restart, reload, reinitialize, flush. */
  action: string;
  group?: number;
  /** Ask "Are you sure ...?" (restart asks later, with the schedule). */
  askConfirmation?: boolean;
}

/**
 * Print the cluster, then resolve member names against those with `role`: no names means all of them (except
 * for reinitialize, which asks); unknown names are an error.
 */
export async function selectMembers(
  ctx: CtlContext,
  s: ClusterSnapshot,
  o: SelectOptions,
): Promise<Member[]> {
  const members = membersWithRole(s, o.role, o.group, ctx.citus);
  const candidates = members.map((m) => m.name);
  if (!o.names.length && !candidates.length) {
    throw new CtlError(`${o.cluster} cluster doesn't have any members`);
  }
  ctx.out(renderCluster(s, { name: o.cluster, group: o.group, citus: ctx.citus }));
  let names = o.names;
  if (names.length) {
    const unknown = names.filter((n) => !s.members.some((m) => m.name === n) && !candidates.includes(n));
    if (unknown.length) throw new CtlError(`${unknown.join(", ")} is not a member of cluster ${o.cluster}`);
    names = names.filter((n) => candidates.includes(n));
    if (!names.length) throw new CtlError(`No ${o.role} among provided members`);
  } else if (o.action !== "reinitialize") names = candidates;
  if (!names.length && !o.force) {
    names = [
      await prompt(ctx.io, `Which member do you want to ${o.action} [${candidates.join(", ")}]?`, {
        default: "",
      }),
    ];
  }
  for (const n of names) {
    if (!candidates.includes(n)) {
      throw new CtlError(`${n || "(none)"} is not a member of cluster ${o.cluster}`);
    }
  }
  const picked = members.filter((m) => names.includes(m.name));
  if (o.askConfirmation ?? true) await confirmMembers(ctx, picked, o.force, o.action);
  return picked;
}

export async function confirmMembers(
  ctx: CtlContext,
  members: Member[],
  force: boolean,
  action: string,
  scheduledAt?: string | null,
) {
  if (force) return;
  const names = members.map((m) => m.name).join(", ");
  if (scheduledAt) {
    if (
      !(await confirm(
        ctx.io,
        `Are you sure you want to schedule ${action} of members ${names} at ${scheduledAt}?`,
      ))
    ) {
      throw new CtlError(`Aborted scheduled ${action}`);
    }
  } else if (!(await confirm(ctx.io, `Are you sure you want to ${action} members ${names}?`))) {
    throw new CtlError(`Aborted ${action}`);
  }
}
