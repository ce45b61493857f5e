/**
 * The lifecycle events the agent emits, decoupled from how they are delivered (plugin Workers, legacy
 * callbacks). `before*` may veto; the rest are after-the-fact notifications delivered once per transition.
 */
export interface HookContext {
  scope: string;
  name: string;
  role: string;
  timeline: number | null;
  lsn: number | null;
  reason: string;
  oldRole?: string;
  newRole?: string;
  oldLeader?: string | null;
  newLeader?: string | null;
}

export interface Veto {
  vetoed: boolean;
  by?: string;
  reason?: string;
}

export interface AgentHooks {
  beforePromote(ctx: HookContext): Promise<Veto>;
  beforeDemote(ctx: HookContext): Promise<Veto>;
  emit(
    event:
      | "onStart"
      | "onStop"
      | "onRestart"
      | "onReload"
      | "onRoleChange"
      | "afterPromote"
      | "onLeaderChange",
    ctx: HookContext,
  ): void;
}

export const noHooks: AgentHooks = {
  beforePromote: () => Promise.resolve({ vetoed: false }),
  beforeDemote: () => Promise.resolve({ vetoed: false }),
  emit: () => {},
};
