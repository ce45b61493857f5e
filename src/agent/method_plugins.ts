/**
 * Custom bootstrap and replica-creation methods, run through the agent's plugin host: configured plugins that
 * provide `bootstrap` / `createReplica`, and Patroni method sections with a `command` (`bootstrap.<name>`,
 * `postgresql.<name>`), which become instances of the first-party `command` plugin. Both end up in the
 * PostgreSQL manager's method registries under the method's name, so `bootstrap.method` and
 * `create_replica_methods` (and `standby_cluster.create_replica_methods`) can name either.
 */
import type { Config } from "../config/schema.ts";
import type { PluginHost } from "../plugins/host.ts";
import type { HookContextData, MethodHook, MethodOsUser, PluginSpec } from "../plugins/types.ts";
import { methodSpecs } from "../../plugins/command/mod.ts";
import { type BootstrapMethod, BootstrapMethodRegistry } from "../postgres/custom_bootstrap.ts";
import type { OsUser } from "../postgres/os_user.ts";
import { type ReplicaMethod, ReplicaMethodRegistry } from "../postgres/replica.ts";

/** One method name bound to the plugin instance that runs it. */
export interface MethodBinding {
  kind: MethodHook;
  /** The name configs use (`bootstrap.method`, `create_replica_methods`). */
  method: string;
  /** The plugin instance in the host. */
  instance: string;
}

export interface MethodPlan {
  /** `command` plugin instances for the sections (add them to the host next to the configured plugins). */
  specs: PluginSpec[];
  bindings: MethodBinding[];
}

/** Instance name of the `command` plugin standing for a Patroni method section. */
export function sectionInstance(section: "bootstrap" | "postgresql", method: string): string {
  return `${section}.${method}`;
}

/**
 * Which plugin instance runs which method. A configured plugin wins over a section of the same name (its
 * section may still carry `keep_existing_recovery_conf` / `recovery_conf`); `basebackup` stays built in.
 * Only the bootstrap section `bootstrap.method` names is instantiated: Patroni runs no other.
 */
export function planMethods(config: Config, plugins: readonly PluginSpec[]): MethodPlan {
  const bindings: MethodBinding[] = [];
  const provides = (name: string, hook: MethodHook) =>
    plugins.some((p) => p.name === name && p.hooks.includes(hook));
  for (const p of plugins) {
    if (p.hooks.includes("bootstrap")) bindings.push({ kind: "bootstrap", method: p.name, instance: p.name });
    if (p.hooks.includes("createReplica") && p.name !== "basebackup") {
      bindings.push({ kind: "createReplica", method: p.name, instance: p.name });
    }
  }
  const sections: Record<string, Record<string, unknown>> = {};
  const method = config.bootstrap.method;
  const bs = config.bootstrap.methods[method];
  if (method !== "initdb" && bs?.command && !provides(method, "bootstrap")) {
    const instance = sectionInstance("bootstrap", method);
    sections[instance] = bs;
    bindings.push({ kind: "bootstrap", method, instance });
  }
  for (const [name, s] of Object.entries(config.postgresql.methods)) {
    if (!s.command || name === "basebackup" || provides(name, "createReplica")) continue;
    const instance = sectionInstance("postgresql", name);
    sections[instance] = s;
    bindings.push({ kind: "createReplica", method: name, instance });
  }
  return { specs: methodSpecs(sections), bindings };
}

/** The OS user for a method's tools: only when the agent runs as root (otherwise it already is that user). */
async function osUserOf(user: OsUser): Promise<MethodOsUser | null> {
  if (!user.asRoot) return null;
  const u = await user.info();
  return { name: u.name, uid: u.uid, gid: u.gid, home: u.home };
}

function sourceOf(connUrl: string | null): { name: string; connUrl: string } | null {
  if (!connUrl) return null;
  let name = connUrl;
  try {
    name = new URL(connUrl).host;
  } catch { /* keep the URL */ }
  return { name, connUrl };
}

/** Registries for the PostgreSQL manager, each method calling its plugin through `host`. */
export function methodRegistries(
  config: Config,
  host: PluginHost,
  bindings: readonly MethodBinding[],
  base: (reason: string) => HookContextData,
): { replica: ReplicaMethodRegistry; bootstrap: BootstrapMethodRegistry } {
  const replica = new ReplicaMethodRegistry();
  const bootstrap = new BootstrapMethodRegistry();
  for (const b of bindings) {
    const traits = host.methodTraits(b.instance) ??
      { keepData: false, noLeader: false, keepExistingRecoveryConf: false };
    if (b.kind === "createReplica") {
      const m: ReplicaMethod = {
        name: b.method,
        keepData: traits.keepData,
        noLeader: traits.noLeader,
        create: async (ctx) =>
          await host.runMethod(b.instance, {
            kind: "createReplica",
            ...base("creating replica"),
            dataDir: ctx.dataDir,
            source: sourceOf(ctx.connUrl),
            osUser: await osUserOf(ctx.user),
            env: ctx.env,
          }),
      };
      replica.register(m);
    } else {
      const section = config.bootstrap.methods[b.method];
      const m: BootstrapMethod = {
        name: b.method,
        keepExistingRecoveryConf: section?.keepExistingRecoveryConf ?? traits.keepExistingRecoveryConf,
        ...(section?.recoveryConf ? { recoveryConf: section.recoveryConf } : {}),
        run: async (ctx) =>
          await host.runMethod(b.instance, {
            kind: "bootstrap",
            ...base("bootstrap"),
            dataDir: ctx.dataDir,
            osUser: await osUserOf(ctx.user),
            env: ctx.env,
          }),
      };
      bootstrap.register(m);
    }
  }
  return { replica, bootstrap };
}
