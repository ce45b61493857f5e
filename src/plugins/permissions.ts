/**
 * Permission arithmetic for plugin workers: the worker gets what the plugin declares intersected with what
 * the operator grants; the agent itself must hold the union over all plugins (a worker cannot exceed its
 * parent).
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { PERMISSION_KINDS, type PermissionKind, type PluginPermissions, type PluginSpec } from "./types.ts";

const ROOT = new URL("../../", import.meta.url);

/**
 * What loading a plugin worker's module graph reads: pgwarden's own sources (worker_entry, mod.ts, first-party
 * plugins) and the directory of each local plugin module. The agent needs it, and so does a plugin's jail.
 */
export function moduleGraphReads(modules: (string | URL)[]): string[] {
  const reads = ["src", "mod.ts", "plugins"].map((p) => fileURLToPath(new URL(p, ROOT)));
  for (const m of modules) {
    const url = new URL(String(m));
    if (url.protocol === "file:") reads.push(dirname(fileURLToPath(url)));
  }
  return reads;
}

/** `host[:port]` (IPv6 in brackets). */
function splitHostPort(entry: string): { host: string; port: string | null } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
  if (!m) return { host: entry, port: null };
  return { host: m[1]!.toLowerCase(), port: m[2] ?? null };
}

/** Does permission entry `a` allow at least everything `b` allows? */
export function covers(kind: PermissionKind, a: string, b: string): boolean {
  if (a === b) return true;
  switch (kind) {
    case "net": {
      const x = splitHostPort(a);
      const y = splitHostPort(b);
      return x.host === y.host && x.port === null;
    }
    case "read":
    case "write": {
      const dir = a.endsWith("/") ? a : a + "/";
      return b.startsWith(dir);
    }
    case "env":
      return a.endsWith("*") && b.startsWith(a.slice(0, -1));
    case "run":
      return false;
  }
}

function uniq(list: string[]): string[] {
  return [...new Set(list)];
}

/** Entries allowed by both lists (the narrower of each overlapping pair). */
export function intersectList(kind: PermissionKind, declared: string[], granted: string[]): string[] {
  const out: string[] = [];
  for (const d of declared) {
    for (const g of granted) {
      if (covers(kind, g, d)) out.push(d);
      else if (covers(kind, d, g)) out.push(g);
    }
  }
  return uniq(out);
}

export function intersect(declared: PluginPermissions, granted: PluginPermissions): PluginPermissions {
  const out: PluginPermissions = {};
  for (const k of PERMISSION_KINDS) {
    const list = intersectList(k, declared[k] ?? [], granted[k] ?? []);
    if (list.length) out[k] = list;
  }
  return out;
}

/** What the worker of `spec` runs with. */
export function effectivePermissions(spec: Pick<PluginSpec, "permissions" | "grant">): PluginPermissions {
  return intersect(spec.permissions, spec.grant ?? spec.permissions);
}

/** Union of the effective permissions of all plugins: the agent's own permission set must include it. */
export function pluginPermissions(specs: Pick<PluginSpec, "permissions" | "grant">[]): PluginPermissions {
  const out: PluginPermissions = {};
  for (const s of specs) {
    const eff = effectivePermissions(s);
    for (const k of PERMISSION_KINDS) {
      if (eff[k]?.length) out[k] = uniq([...(out[k] ?? []), ...eff[k]!]);
    }
  }
  return out;
}

/** `--allow-<kind>=<list>` flags for the agent's command line (e.g. when re-executing with permissions). */
export function permissionFlags(p: PluginPermissions): string[] {
  return PERMISSION_KINDS.filter((k) => p[k]?.length).map((k) => `--allow-${k}=${p[k]!.join(",")}`);
}

/**
 * Deno Worker permission object. Every kind is given explicitly: an omitted kind would be inherited from
 * the agent, which holds far more than any plugin should.
 */
export function workerPermissions(p: PluginPermissions): Deno.PermissionOptionsObject {
  const list = (k: PermissionKind) => (p[k]?.length ? [...p[k]!] : false);
  return {
    net: list("net"),
    run: list("run"),
    read: list("read"),
    write: list("write"),
    env: list("env"),
    ffi: false,
    sys: false,
    import: false,
  } as Deno.PermissionOptionsObject;
}
