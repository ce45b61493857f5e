/**
 * Turn the config's `plugins:` entries into `PluginSpec`s. TS configs hold factory results (already specs);
 * YAML configs hold `{module, config, grant}` references, where `module` is a first-party plugin name or a
 * path/URL of a plugin definition module (its default export, or export `plugin`).
 *
 * Definition modules are imported into the agent (like the config itself), so they must be side-effect
 * free; the hooks run only in the plugin's worker.
 */
import { z } from "zod";
import { keysToCamel } from "../config/case.ts";
import {
  HookNameSchema,
  instantiate,
  type PluginDefinition,
  PluginPermissionsSchema,
  type PluginSpec,
  PluginSpecSchema,
} from "./types.ts";

/** Plugins shipped in `plugins/<name>/mod.ts`. */
export const FIRST_PARTY = ["aws-eip", "pgbackrest", "command"] as const;

export const PluginRefYamlSchema = z.strictObject({
  module: z.string().min(1),
  /** Instance name; default the plugin's own name. */
  name: z.string().min(1).optional(),
  config: z.record(z.string(), z.unknown()).default({}),
  grant: PluginPermissionsSchema.optional(),
  timeoutMs: z.number().int().positive().optional(),
  timeouts: z.partialRecord(HookNameSchema, z.number().int().positive()).optional(),
  vetoOnFailure: z.boolean().optional(),
});
export type PluginRefYaml = z.input<typeof PluginRefYamlSchema>;

export class PluginResolveError extends Error {
  override name = "PluginResolveError";
}

/** URL of the definition module a reference names, relative paths against `baseDir` (the config's folder). */
export function definitionUrl(module: string, baseDir: string): URL {
  if ((FIRST_PARTY as readonly string[]).includes(module)) {
    return new URL(`../../plugins/${module}/mod.ts`, import.meta.url);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) return new URL(module);
  const abs = module.startsWith("/") ? module : `${baseDir.replace(/\/$/, "")}/${module}`;
  return new URL(`file://${abs}`);
}

function isDefinition(v: unknown): v is PluginDefinition {
  const d = v as Partial<PluginDefinition> | null;
  return !!d && typeof d.name === "string" && typeof d.configSchema === "object" && Array.isArray(d.hooks) &&
    d.module !== undefined;
}

/** Resolve one entry: a spec from a factory passes through; a YAML reference is loaded and instantiated. */
export async function resolvePluginRef(ref: unknown, baseDir: string): Promise<PluginSpec> {
  const asSpec = PluginSpecSchema.safeParse(ref);
  if (asSpec.success) return asSpec.data;
  const raw = keysToCamel(ref, { opaque: ["config", "grant"] }) as Record<string, unknown>;
  const parsed = PluginRefYamlSchema.safeParse(raw);
  if (!parsed.success) {
    throw new PluginResolveError(
      `Invalid plugin entry ${JSON.stringify(ref)}: ${z.prettifyError(parsed.error)}`,
    );
  }
  const r = parsed.data;
  const url = definitionUrl(r.module, baseDir);
  let mod: Record<string, unknown>;
  try {
    mod = await import(url.href);
  } catch (err) {
    throw new PluginResolveError(`Cannot load plugin module "${r.module}" (${url.href}): ${err}`);
  }
  const def = [mod.default, mod.plugin].find(isDefinition);
  if (!def) throw new PluginResolveError(`Module "${r.module}" has no plugin definition (default export)`);
  // First-party schemas are camelCase; YAML authors may write snake_case keys. The `command` plugin passes its
  // keys verbatim to the tool, so its config is left as written.
  const config = def.name === "command" ? r.config : keysToCamel(r.config);
  return instantiate(def, config, {
    name: r.name,
    grant: r.grant,
    timeoutMs: r.timeoutMs,
    timeouts: r.timeouts,
    vetoOnFailure: r.vetoOnFailure,
  });
}

/** Resolve all entries; instance names must be unique. */
export async function resolvePlugins(refs: readonly unknown[], baseDir: string): Promise<PluginSpec[]> {
  const specs: PluginSpec[] = [];
  for (const ref of refs) specs.push(await resolvePluginRef(ref, baseDir));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) {
      throw new PluginResolveError(`Two plugins are named "${s.name}": set \`name\` on one`);
    }
    seen.add(s.name);
  }
  return specs;
}
