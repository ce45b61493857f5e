/**
 * The plugin host: runs each configured plugin in its own Deno Worker with only its effective permissions,
 * delivers hook calls to it in order, and turns every way a hook can go wrong (throws, hangs past its
 * timeout, hits a permission denial, crashes the worker) into a failure result plus a log line and a counter.
 * Nothing a plugin does can throw into, or stall, the caller beyond the call's timeout.
 *
 * Each Worker lives in its own small process (jail.ts) so that terminating it always works, even when a hook
 * spins on the CPU. A failed worker is terminated and started again lazily, on its next call.
 */
import { JailedWorker } from "./jail_client.ts";
import { recordHookMetrics } from "./metrics_bridge.ts";
import { effectivePermissions, pluginPermissions } from "./permissions.ts";
import { type HostMessage, isPermissionError, type WorkerMessage } from "./protocol.ts";
import {
  EVENT_HOOKS,
  type EventHook,
  HOOK_NAMES,
  type HookArgs,
  type HookCallData,
  type HookContextData,
  type HookName,
  type Hooks,
  type LogLevel,
  type MethodHook,
  type PluginLogger,
  type PluginPermissions,
  type PluginSpec,
  type PluginSpecInput,
  PluginSpecSchema,
  VETO_HOOKS,
  type VetoHook,
} from "./types.ts";

/** How one hook call ended. */
export type CallOutcome =
  | { ok: true; value: unknown; ms: number }
  | { ok: false; failure: CallFailure; message: string; ms: number };
export type CallFailure =
  /** The hook threw. */
  | "error"
  /** The hook (or something it started) was denied a permission. */
  | "permission"
  /** The hook did not answer within its timeout (or the caller's deadline passed while it waited its turn). */
  | "timeout"
  /** The worker died: module failed to load, uncaught error outside the hook. */
  | "crashed"
  /** The host was closed. */
  | "closed";

/** Outcome label used by counters and metrics. */
export type OutcomeLabel = "ok" | "vetoed" | CallFailure;

export interface VetoResult {
  vetoed: boolean;
  /** Plugin that vetoed. */
  by?: string;
  reason?: string;
}

export interface VetoRecord extends Required<VetoResult> {
  hook: VetoHook;
  at: number;
}

export interface HostLogger {
  log(level: LogLevel, msg: string, fields: Record<string, unknown>): void;
}

/** One finished hook call, reported to `onOutcome` (metrics). */
export interface CallRecord {
  plugin: string;
  hook: HookName;
  outcome: OutcomeLabel;
  ms: number;
}

export interface HookCounter {
  plugin: string;
  hook: HookName;
  outcome: OutcomeLabel;
  count: number;
}

export interface PluginHostOptions {
  logger?: HostLogger;
  /** Called after every hook call; default: record into the agent's `pgwarden_plugin_hook_*` metrics. */
  onOutcome?: (record: CallRecord) => void;
  now?: () => number;
  /** Trusted in-process built-ins (the legacy callbacks), run after the configured plugins. */
  local?: LocalPlugin[];
}

/** Writes JSON lines to stderr; the agent passes its own logger. */
export const stderrLogger: HostLogger = {
  log(level, msg, fields) {
    console.error(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
  },
};

/** Context for `runMethod`: which kind of method, plus the hook's usual context. */
export type MethodContext =
  | ({ kind: "bootstrap" } & Omit<HookCallData<"bootstrap">, "method">)
  | ({ kind: "createReplica" } & Omit<HookCallData<"createReplica">, "method">);

interface Pending {
  id: number;
  hook: HookName;
  started: number;
  resolve: (o: CallOutcome) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** What the host needs from a runner: a worker-backed plugin, or an in-process built-in. */
interface Runner {
  readonly spec: PluginSpec;
  readonly permissions: PluginPermissions;
  readonly alive: boolean;
  starts: number;
  terminations: number;
  timeoutFor(hook: HookName): number;
  call(hook: HookName, data: HookCallData, timeoutMs: number, deadlineAt?: number): Promise<CallOutcome>;
  /** Stop; resolves once nothing of the plugin runs any more. */
  close(): Promise<void>;
}

/**
 * An in-process plugin: only for the agent's own trusted built-ins (legacy callbacks). Same queueing,
 * timeouts and failure results as a worker plugin, but a hung hook cannot be terminated, so built-ins must
 * return promptly (and do: callbacks only start a process).
 */
export interface LocalPlugin {
  name: string;
  hooks: Hooks;
  timeoutMs?: number;
  close?(): void;
}

class LocalRunner implements Runner {
  readonly spec: PluginSpec;
  readonly permissions: PluginPermissions = {};
  readonly alive = true;
  starts = 0;
  terminations = 0;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly plugin: LocalPlugin, private readonly host: PluginHost) {
    this.spec = PluginSpecSchema.parse({
      name: plugin.name,
      plugin: plugin.name,
      version: "builtin",
      module: `builtin:${plugin.name}`,
      config: null,
      permissions: {},
      hooks: HOOK_NAMES.filter((h) => plugin.hooks[h]),
      timeoutMs: plugin.timeoutMs,
    });
  }

  timeoutFor(hook: HookName): number {
    return this.spec.timeouts[hook] ?? this.spec.timeoutMs;
  }

  call(hook: HookName, data: HookCallData, timeoutMs: number, deadlineAt?: number): Promise<CallOutcome> {
    const run = this.#tail.then(() => this.#run(hook, data, timeoutMs, deadlineAt));
    this.#tail = run;
    return run;
  }

  async #run(
    hook: HookName,
    data: HookCallData,
    timeoutMs: number,
    deadlineAt?: number,
  ): Promise<CallOutcome> {
    const t0 = this.host.now();
    const budget = deadlineAt === undefined ? timeoutMs : Math.min(timeoutMs, deadlineAt - t0);
    const ac = new AbortController();
    const logger = Object.fromEntries(
      (["debug", "info", "warn", "error"] as const).map((
        l,
      ) => [
        l,
        (msg: string, f?: Record<string, unknown>) =>
          this.host.log(l, msg, { plugin: this.spec.name, hook, ...f }),
      ]),
    ) as unknown as PluginLogger;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const fn = this.plugin.hooks[hook] as (c: unknown) => unknown;
      const value = await Promise.race([
        Promise.resolve().then(() => fn({ ...data, config: null, logger, signal: ac.signal })),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new HookTimeout(`hook ${hook} did not answer within ${budget} ms`)),
            budget,
          );
        }),
      ]);
      return { ok: true, value: value ?? null, ms: this.host.now() - t0 };
    } catch (err) {
      const timeout = err instanceof HookTimeout;
      if (timeout) ac.abort(err);
      const message = err instanceof Error ? err.message : String(err);
      this.host.log("error", timeout ? "plugin hook timed out" : "plugin hook failed", {
        plugin: this.spec.name,
        hook,
        error: message,
      });
      return { ok: false, failure: timeout ? "timeout" : "error", message, ms: this.host.now() - t0 };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    this.plugin.close?.();
    return Promise.resolve();
  }
}

type StartFailure = Error & { failure?: CallFailure };

class HookTimeout extends Error {
  override name = "HookTimeout";
}

/** One plugin's worker and its call queue. */
class PluginRunner implements Runner {
  readonly permissions: PluginPermissions;
  #worker: JailedWorker | null = null;
  /** Exits of terminated jails not yet complete. */
  readonly #exits = new Set<Promise<void>>();
  #tail: Promise<unknown> = Promise.resolve();
  #pending: Pending | null = null;
  #ready: Promise<void> | null = null;
  #readySettle: { resolve: () => void; reject: (e: StartFailure) => void } | null = null;
  #seq = 0;
  #closed = false;
  /** Workers started and terminated so far. */
  starts = 0;
  terminations = 0;
  /** Hooks the running worker says it implements (after its `ready`). */
  implemented: HookName[] | null = null;

  constructor(readonly spec: PluginSpec, private readonly host: PluginHost) {
    this.permissions = effectivePermissions(spec);
  }

  get alive(): boolean {
    return this.#worker !== null;
  }

  /** Start the worker now instead of at the first call (no effect when running or closed). */
  prestart(): void {
    if (!this.#closed) this.#ensureWorker();
  }

  /** The running jail's process id, if any. */
  get pid(): number | null {
    return this.#worker?.pid ?? null;
  }

  timeoutFor(hook: HookName): number {
    return this.spec.timeouts[hook] ?? this.spec.timeoutMs;
  }

  /**
   * Queue a call. With `deadlineAt`, the time spent waiting for earlier calls counts against the deadline;
   * otherwise the timeout starts when the call is delivered.
   */
  call(hook: HookName, data: HookCallData, timeoutMs: number, deadlineAt?: number): Promise<CallOutcome> {
    const ticket = { expired: false };
    const run = this.#tail.then(() =>
      ticket.expired
        ? { ok: false as const, failure: "timeout" as const, message: "skipped: deadline passed", ms: 0 }
        : this.#run(hook, data, timeoutMs, deadlineAt)
    );
    this.#tail = run;
    if (deadlineAt === undefined) return run;
    // The caller's deadline also covers waiting behind earlier calls of this plugin.
    const queuedAt = this.host.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expiry = new Promise<CallOutcome>((resolve) => {
      timer = setTimeout(() => {
        ticket.expired = true;
        resolve({
          ok: false,
          failure: "timeout",
          message: `deadline passed while waiting for earlier calls of this plugin`,
          ms: this.host.now() - queuedAt,
        });
      }, Math.max(0, deadlineAt - queuedAt));
    });
    return Promise.race([
      run.then((o) => {
        clearTimeout(timer);
        return o;
      }),
      expiry,
    ]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#readySettle?.reject(Object.assign(new Error("plugin host closed"), { failure: "closed" as const }));
    this.#readySettle = null;
    this.#finish({ ok: false, failure: "closed", message: "plugin host closed", ms: 0 });
    this.#kill(null);
    await Promise.all(this.#exits);
  }

  async #run(
    hook: HookName,
    data: HookCallData,
    timeoutMs: number,
    deadlineAt?: number,
  ): Promise<CallOutcome> {
    const t0 = this.host.now();
    if (this.#closed) return { ok: false, failure: "closed", message: "plugin host closed", ms: 0 };
    if (deadlineAt !== undefined && deadlineAt <= t0) {
      return {
        ok: false,
        failure: "timeout",
        message: "deadline passed while waiting for earlier calls",
        ms: 0,
      };
    }
    // Loading the worker module (npm packages can take seconds) is not charged to the hook's timeout, but has
    // its own limit, and an absolute caller deadline still applies.
    const startLimit = deadlineAt === undefined
      ? this.spec.startTimeoutMs
      : Math.min(this.spec.startTimeoutMs, deadlineAt - t0);
    const started = await this.#started(startLimit);
    if (!started.ok) return { ...started, ms: this.host.now() - t0 };
    const worker = started.worker;
    const now = this.host.now();
    const budget = deadlineAt === undefined ? timeoutMs : Math.min(timeoutMs, deadlineAt - now);
    if (budget <= 0) {
      return {
        ok: false,
        failure: "timeout",
        message: "deadline passed while the worker started",
        ms: now - t0,
      };
    }
    const id = ++this.#seq;
    return await new Promise<CallOutcome>((resolve) => {
      const timer = setTimeout(() => {
        const msg = `hook ${hook} did not answer within ${budget} ms`;
        this.host.log(
          "error",
          "plugin hook timed out, terminating worker",
          this.#fields({ hook, timeoutMs: budget }),
        );
        this.#post({ type: "abort", id, reason: msg });
        this.#finish({ ok: false, failure: "timeout", message: msg, ms: this.host.now() - t0 });
        this.#kill(hook);
      }, budget);
      this.#pending = { id, hook, started: t0, resolve, timer };
      worker.postMessage({ type: "call", id, hook, data, timeoutMs: budget } satisfies HostMessage);
    });
  }

  /** The running worker once it answered `ready`, starting one if needed. */
  async #started(
    limitMs: number,
  ): Promise<{ ok: true; worker: JailedWorker } | { ok: false; failure: CallFailure; message: string }> {
    const w = this.#ensureWorker();
    if (this.implemented !== null) return { ok: true, worker: w };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<"timeout">((
      resolve,
    ) => (timer = setTimeout(() => resolve("timeout"), limitMs)));
    try {
      const r = await Promise.race([this.#ready!, limit]);
      if (r === "timeout") {
        this.host.log(
          "error",
          "plugin worker did not start in time, terminating it",
          this.#fields({ limitMs }),
        );
        this.#kill(null);
        return { ok: false, failure: "timeout", message: `worker did not start within ${limitMs} ms` };
      }
      return { ok: true, worker: w };
    } catch (err) {
      const e = err as StartFailure;
      return { ok: false, failure: e.failure ?? "crashed", message: e.message };
    } finally {
      clearTimeout(timer);
    }
  }

  #fields(extra: Record<string, unknown>): Record<string, unknown> {
    return { plugin: this.spec.name, ...extra };
  }

  #post(m: HostMessage): void {
    try {
      this.#worker?.postMessage(m);
    } catch { /* worker already gone */ }
  }

  #finish(o: CallOutcome): Pending | null {
    const p = this.#pending;
    if (!p) return null;
    clearTimeout(p.timer);
    this.#pending = null;
    p.resolve(o);
    return p;
  }

  #ensureWorker(): JailedWorker {
    if (this.#worker) return this.#worker;
    const w: JailedWorker = new JailedWorker(
      { name: this.spec.name, module: this.spec.module, permissions: this.permissions },
      { message: (m) => this.#onMessage(w, m), crash: (message) => this.#onCrash(w, message) },
    );
    this.starts++;
    this.implemented = null;
    this.#ready = new Promise<void>((resolve, reject) => (this.#readySettle = { resolve, reject }));
    this.#ready.catch(() => {}); // observed by #started; a crash with no call waiting is only logged
    w.postMessage({ type: "init", name: this.spec.name, config: this.spec.config } satisfies HostMessage);
    this.#worker = w;
    this.#exits.add(w.exited);
    void w.exited.then(() => this.#exits.delete(w.exited));
    return w;
  }

  #onMessage(w: JailedWorker, m: WorkerMessage): void {
    if (w !== this.#worker) return;
    switch (m.type) {
      case "ready":
        this.implemented = m.hooks;
        this.#readySettle?.resolve();
        this.#readySettle = null;
        return;
      case "log": {
        const hook = m.id !== null && this.#pending?.id === m.id ? this.#pending.hook : undefined;
        this.host.log(m.level, m.msg, this.#fields({ ...(hook ? { hook } : {}), ...m.fields }));
        return;
      }
      case "crash":
        this.#onCrash(w, m.message, m.kind === "permission");
        return;
      case "result": {
        if (this.#pending?.id !== m.id) return;
        this.#finish({ ok: true, value: m.value, ms: this.host.now() - this.#pending.started });
        return;
      }
      case "error": {
        const p = this.#pending;
        if (p?.id !== m.id) return;
        const permission = m.kind === "permission";
        this.host.log(
          "error",
          permission
            ? "plugin hook denied a permission, terminating worker"
            : "plugin hook failed, terminating worker",
          this.#fields({ hook: p.hook, error: `${m.error}: ${m.message}` }),
        );
        if (permission) this.host.countDenial(this.spec.name);
        this.#finish({
          ok: false,
          failure: permission ? "permission" : "error",
          message: m.message,
          ms: this.host.now() - p.started,
        });
        this.#kill(p.hook);
        return;
      }
    }
  }

  #onCrash(w: JailedWorker, message: string, permission = isPermissionError(message)): void {
    if (w !== this.#worker) return;
    const hook = this.#pending?.hook ?? null;
    this.host.log(
      "error",
      permission ? "plugin worker denied a permission, terminating worker" : "plugin worker crashed",
      this.#fields({ hook, error: message }),
    );
    if (permission) this.host.countDenial(this.spec.name);
    this.#readySettle?.reject(
      Object.assign(new Error(message), { failure: (permission ? "permission" : "crashed") as CallFailure }),
    );
    this.#readySettle = null;
    const p = this.#pending;
    this.#finish({
      ok: false,
      failure: permission ? "permission" : "crashed",
      message,
      ms: p ? this.host.now() - p.started : 0,
    });
    this.#kill(hook);
  }

  #kill(_hook: HookName | null): void {
    const w = this.#worker;
    if (!w) return;
    this.#worker = null;
    this.#readySettle?.reject(Object.assign(new Error("worker terminated"), { failure: "crashed" as const }));
    this.#readySettle = null;
    w.terminate();
    this.terminations++;
  }
}

export class PluginHost {
  readonly specs: PluginSpec[];
  readonly #runners = new Map<string, Runner>();
  readonly #logger: HostLogger;
  readonly #onOutcome?: (r: CallRecord) => void;
  readonly #counters = new Map<string, HookCounter>();
  readonly #denials = new Map<string, number>();
  readonly #emitted = new Set<string>();
  #lastVeto: VetoRecord | null = null;
  readonly now: () => number;

  constructor(specs: PluginSpecInput[], opts: PluginHostOptions = {}) {
    this.#logger = opts.logger ?? stderrLogger;
    this.#onOutcome = opts.onOutcome ?? recordHookMetrics;
    this.now = opts.now ?? (() => performance.now());
    const runners: Runner[] = [
      ...specs.map((s) => new PluginRunner(PluginSpecSchema.parse(s), this)),
      ...(opts.local ?? []).map((p) => new LocalRunner(p, this)),
    ];
    for (const r of runners) {
      if (this.#runners.has(r.spec.name)) throw new Error(`Duplicate plugin name "${r.spec.name}"`);
      this.#runners.set(r.spec.name, r);
    }
    this.specs = runners.map((r) => r.spec);
  }

  log(level: LogLevel, msg: string, fields: Record<string, unknown>): void {
    try {
      this.#logger.log(level, msg, fields);
    } catch { /* a broken logger must not break the host */ }
  }

  countDenial(plugin: string): void {
    this.#denials.set(plugin, (this.#denials.get(plugin) ?? 0) + 1);
  }

  /** Plugins implementing `hook`, in configured order. */
  pluginsWith(hook: HookName): string[] {
    return this.specs.filter((s) => s.hooks.includes(hook)).map((s) => s.name);
  }

  /** Union of granted permissions: the agent process must hold at least these. */
  permissions(): PluginPermissions {
    return pluginPermissions(this.specs);
  }

  /** Effective permissions of one plugin's worker. */
  permissionsOf(plugin: string): PluginPermissions | undefined {
    return this.#runners.get(plugin)?.permissions;
  }

  /**
   * Start the workers of plugins implementing any of `hooks` now (default: the veto hooks), so the first
   * promotion or demotion does not wait for a plugin process to start inside its veto deadline.
   */
  prestart(hooks: readonly HookName[] = VETO_HOOKS): void {
    for (const r of this.#runners.values()) {
      if (r instanceof PluginRunner && r.spec.hooks.some((h) => hooks.includes(h))) r.prestart();
    }
  }

  /** Is the plugin's worker currently running (false before its first call and after a termination)? */
  isRunning(plugin: string): boolean {
    return this.#runners.get(plugin)?.alive ?? false;
  }

  /** Process id of the plugin's running jail (null when none runs or for a built-in). */
  workerPid(plugin: string): number | null {
    const r = this.#runners.get(plugin);
    return r instanceof PluginRunner ? r.pid : null;
  }

  /** Worker lifecycle counts of one plugin. */
  workerStats(plugin: string): { starts: number; terminations: number; denials: number } | undefined {
    const r = this.#runners.get(plugin);
    if (!r) return undefined;
    return { starts: r.starts, terminations: r.terminations, denials: this.#denials.get(plugin) ?? 0 };
  }

  /** Call counters by plugin, hook and outcome (`pgwarden_plugin_hook_calls_total`). */
  counters(): HookCounter[] {
    return [...this.#counters.values()].map((c) => ({ ...c }));
  }

  /** The most recent veto (for `ctl why`). */
  get lastVeto(): VetoRecord | null {
    return this.#lastVeto;
  }

  #record(plugin: string, hook: HookName, outcome: OutcomeLabel, ms: number): void {
    const key = `${plugin}\0${hook}\0${outcome}`;
    const c = this.#counters.get(key) ?? { plugin, hook, outcome, count: 0 };
    c.count++;
    this.#counters.set(key, c);
    try {
      this.#onOutcome?.({ plugin, hook, outcome, ms });
    } catch { /* metrics must not break the host */ }
  }

  /** Call one plugin's hook. Never throws; a failure is an outcome. */
  async call<H extends HookName>(
    plugin: string,
    hook: H,
    data: HookCallData<H>,
    opts: { timeoutMs?: number; deadlineAt?: number } = {},
  ): Promise<CallOutcome> {
    const r = this.#runners.get(plugin);
    if (!r) return { ok: false, failure: "error", message: `no plugin named "${plugin}"`, ms: 0 };
    const outcome = await r.call(
      hook,
      data as HookCallData,
      opts.timeoutMs ?? r.timeoutFor(hook),
      opts.deadlineAt,
    );
    const vetoed = outcome.ok && isVeto(outcome.value);
    this.#record(plugin, hook, outcome.ok ? (vetoed ? "vetoed" : "ok") : outcome.failure, outcome.ms);
    return outcome;
  }

  /**
   * Deliver an after-hook / notification to every plugin implementing it, queued per plugin in call order.
   * With `key`, an event already emitted under the same key is not delivered again (so the HA loop can emit
   * once per transition even if it re-runs the step).
   */
  emit<H extends EventHook>(
    event: H,
    data: HookCallData<H>,
    key?: string,
  ): Promise<{ plugin: string; outcome: CallOutcome }[]> {
    if (!(EVENT_HOOKS as readonly string[]).includes(event)) {
      throw new Error(`"${event}" is not an event hook`);
    }
    if (key !== undefined) {
      const k = `${event}\0${key}`;
      if (this.#emitted.has(k)) return Promise.resolve([]);
      this.#emitted.add(k);
    }
    return Promise.all(
      this.pluginsWith(event).map(async (plugin) => ({
        plugin,
        outcome: await this.call(plugin, event, data),
      })),
    );
  }

  /**
   * Ask every plugin implementing a before-hook; all run concurrently and must answer by `deadlineMs`.
   * The first veto in configured order wins. A failed or late answer counts as a veto only for plugins
   * configured with `vetoOnFailure`.
   */
  async veto<H extends VetoHook>(hook: H, data: HookCallData<H>, deadlineMs: number): Promise<VetoResult> {
    if (!(VETO_HOOKS as readonly string[]).includes(hook)) throw new Error(`"${hook}" is not a before-hook`);
    const deadlineAt = this.now() + deadlineMs;
    const answers = await Promise.all(
      this.pluginsWith(hook).map(async (plugin) => ({
        plugin,
        outcome: await this.call(plugin, hook, data, { timeoutMs: deadlineMs, deadlineAt }),
      })),
    );
    for (const { plugin, outcome } of answers) {
      const spec = this.#runners.get(plugin)!.spec;
      let reason: string | null = null;
      if (outcome.ok && isVeto(outcome.value)) reason = String(outcome.value.reason ?? "no reason given");
      else if (!outcome.ok && spec.vetoOnFailure) {
        reason = `${hook} failed (${outcome.failure}): ${outcome.message}`;
      }
      if (reason !== null) {
        this.#lastVeto = { hook, vetoed: true, by: plugin, reason, at: Date.now() };
        this.log("warn", `${hook} vetoed by plugin`, { plugin, hook, reason });
        return { vetoed: true, by: plugin, reason };
      }
    }
    return { vetoed: false };
  }

  /** `keep_data`/`no_leader`/`keep_existing_recovery_conf` of a method plugin (defaults when it declares none). */
  methodTraits(
    name: string,
  ): { keepData: boolean; noLeader: boolean; keepExistingRecoveryConf: boolean } | undefined {
    const spec = this.#runners.get(name)?.spec;
    if (!spec) return undefined;
    return {
      keepData: spec.methodTraits?.keepData ?? false,
      noLeader: spec.methodTraits?.noLeader ?? false,
      keepExistingRecoveryConf: spec.methodTraits?.keepExistingRecoveryConf ?? false,
    };
  }

  /** Does a plugin named `name` provide this kind of method? */
  hasMethod(name: string, kind: MethodHook): boolean {
    return this.#runners.get(name)?.spec.hooks.includes(kind) ?? false;
  }

  /**
   * Run a bootstrap or replica-creation method. False on any failure (including timeout), so the caller
   * tries its next method.
   */
  async runMethod(name: string, ctx: MethodContext): Promise<boolean> {
    const { kind, ...rest } = ctx;
    if (!this.hasMethod(name, kind)) {
      this.log("error", `no plugin provides ${kind} method`, { plugin: name, hook: kind });
      return false;
    }
    const data = { ...rest, method: name } as HookCallData<typeof kind>;
    const outcome = await this.call(name, kind, data);
    if (!outcome.ok) return false;
    if (outcome.value !== true) {
      this.log("warn", `${kind} method reported failure`, { plugin: name, hook: kind });
      return false;
    }
    return true;
  }

  /** Terminate all workers; queued and running calls end as `closed`. Resolves once their processes are gone. */
  async close(): Promise<void> {
    await Promise.all([...this.#runners.values()].map((r) => r.close()));
  }
}

function isVeto(v: unknown): v is { veto: true; reason: string } {
  return typeof v === "object" && v !== null && (v as { veto?: unknown }).veto === true;
}

/** Convenience: the base context from agent state, with a hook's extra args. */
export function hookData<H extends HookName>(base: HookContextData, args: HookArgs[H]): HookCallData<H> {
  return { ...base, ...args } as HookCallData<H>;
}
