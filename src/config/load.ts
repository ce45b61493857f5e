/**
 * Loading the local configuration: a TS/JS module (default export: the config object, or a sync/async
 * function returning it) or a Patroni YAML file, with `PATRONI_*` environment overrides on top (env wins).
 * Either the result is a validated `Config` with absolute paths, or a `ConfigError` listing every problem.
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseYamlDocument } from "./yaml.ts";
import { type Config, ConfigSchema } from "./schema.ts";
import { type Env, patroniEnvOverlay, readPatroniEnv } from "./env.ts";
import {
  ConfigError,
  type ConfigIssue,
  describeValue,
  type Flavor,
  issuesFromZod,
  makeErrorMap,
  type Origins,
  pathKey,
} from "./errors.ts";
import { isPlainObject, mapPatroniDocument, yamlSpeller } from "./patroni_yaml.ts";

export { ConfigError } from "./errors.ts";
export type { ConfigIssue } from "./errors.ts";

export interface LoadOptions {
  /** Environment to read `PATRONI_*` overrides from; default: the recognized names this process may read. */
  env?: Env;
  /** Directory relative paths are resolved against; default: the current working directory. */
  cwd?: string;
}

type Obj = Record<string, unknown>;

const YAML_EXT = /\.ya?ml$/i;
const MODULE_EXT = /\.(ts|mts|js|mjs)$/i;

/** Load, map, override from env, validate and resolve the config at `path`. Throws `ConfigError`. */
export async function loadConfig(path: string, opts: LoadOptions = {}): Promise<Config> {
  const abs = resolve(opts.cwd ?? Deno.cwd(), path);
  if (YAML_EXT.test(path)) {
    let text: string;
    try {
      text = await Deno.readTextFile(abs);
    } catch (e) {
      throw new ConfigError(
        [{ path: "(file)", message: `cannot read ${abs}: ${(e as Error).message}` }],
        abs,
      );
    }
    return withSource(() => parsePatroniYaml(text, opts), abs);
  }
  if (MODULE_EXT.test(path)) {
    const input = await importConfigModule(abs);
    return withSource(() => parseConfigObject(input, opts), abs);
  }
  throw new ConfigError(
    [{ path: "(file)", message: `expected a .yml, .yaml, .ts or .js file, got ${JSON.stringify(path)}` }],
    abs,
  );
}

function withSource<T>(f: () => T, source: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError && !e.source) throw new ConfigError(e.issues, source);
    throw e;
  }
}

/** Import a config module and evaluate its default export. A changed file is re-imported (for reloads). */
export async function importConfigModule(abs: string): Promise<unknown> {
  let stamp = "";
  try {
    stamp = String((await Deno.stat(abs)).mtime?.getTime() ?? "");
  } catch (e) {
    throw new ConfigError([{ path: "(file)", message: `cannot read ${abs}: ${(e as Error).message}` }], abs);
  }
  let mod: { default?: unknown };
  try {
    mod = await import(`${pathToFileURL(abs).href}${stamp ? `?mtime=${stamp}` : ""}`);
  } catch (e) {
    throw new ConfigError(
      [{ path: "(module)", message: `cannot import ${abs}: ${(e as Error).message}` }],
      abs,
    );
  }
  const d = mod.default;
  if (typeof d === "function") {
    try {
      return await (d as () => unknown)();
    } catch (e) {
      throw new ConfigError(
        [{ path: "(module)", message: `the default export function failed: ${(e as Error).message}` }],
        abs,
      );
    }
  }
  if (d === undefined) {
    throw new ConfigError([{
      path: "(module)",
      message: "expected a default export (the config object or a function returning it), got nothing",
    }], abs);
  }
  return d;
}

/** Validate a config written as a camelCase object (a TS module's default export). */
export function parseConfigObject(input: unknown, opts: LoadOptions = {}): Config {
  if (!isPlainObject(input)) {
    throw new ConfigError([{ path: "(root)", message: `expected an object, got ${describeValue(input)}` }]);
  }
  return finish(input, new Map(), [], "ts", opts);
}

/** Parse and validate Patroni YAML text. */
export function parsePatroniYaml(text: string, opts: LoadOptions = {}): Config {
  const doc = parseYamlDocument(text);
  // An unresolved tag (`!foo`) is an error for PyYAML's safe loader, so Patroni would refuse the file too.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length) {
    throw new ConfigError(problems.map((e) => {
      const pos = e.linePos?.[0];
      return {
        path: pos ? `line ${pos.line}, column ${pos.col}` : "(yaml)",
        message: e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""),
      };
    }));
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new ConfigError([{ path: "(yaml)", message: (e as Error).message }]);
  }
  if (value !== null && value !== undefined && !isPlainObject(value)) {
    throw new ConfigError([{ path: "(root)", message: `expected a mapping, got ${describeValue(value)}` }]);
  }
  const mapped = mapPatroniDocument(value ?? {});
  return finish(mapped.value, mapped.origins, mapped.issues, "yaml", opts);
}

function finish(model: Obj, origins: Origins, pre: ConfigIssue[], flavor: Flavor, opts: LoadOptions): Config {
  const overlay = patroniEnvOverlay(opts.env ?? readPatroniEnv());
  const env = mapPatroniDocument(overlay.doc, overlay.sources);
  const merged = applyPatroniDefaults(mergeModel(model, env.value, origins, env.origins));
  const result = ConfigSchema.safeParse(merged, { error: makeErrorMap(flavor), reportInput: true });
  const issues = [
    ...pre,
    ...env.issues,
    ...(result.success ? [] : issuesFromZod(result.error, {
      flavor,
      origins,
      schema: ConfigSchema,
      speller: flavor === "yaml" ? yamlSpeller : undefined,
    })),
  ];
  if (issues.length || !result.success) throw new ConfigError(issues);
  return resolvePaths(result.data, opts.cwd ?? Deno.cwd());
}

/**
 * Deep-merge `overlay` into a copy of `base`: mappings merge key by key, anything else is replaced (Patroni's
 * rule for env over file). Origins of replaced subtrees are dropped and the overlay's recorded instead.
 * Only plain objects are copied, so non-plain values (plugin instances) pass through untouched.
 */
export function mergeModel(base: Obj, overlay: Obj, origins: Origins, overlayOrigins: Origins): Obj {
  const walk = (b: unknown, o: unknown, path: string[]): unknown => {
    if (isPlainObject(b) && isPlainObject(o)) {
      const out: Obj = { ...b };
      for (const [k, v] of Object.entries(o)) out[k] = walk(b[k], v, [...path, k]);
      return out;
    }
    const prefix = pathKey(path).slice(0, -1);
    for (const k of [...origins.keys()]) if (k.startsWith(prefix) && k !== pathKey(path)) origins.delete(k);
    return o;
  };
  const merged = walk(base, overlay, []) as Obj;
  for (const [k, v] of overlayOrigins) if (k !== pathKey([])) origins.set(k, v);
  return merged;
}

/**
 * Effective-config rules Patroni applies before use that are not plain schema defaults. Returns a copy where
 * it changes something: the input may be a TS module's (cached) default export.
 */
function applyPatroniDefaults(c: Obj): Obj {
  // A Citus cluster bootstraps with quorum commit unless bootstrap.dcs says otherwise.
  if (c.citus === undefined) return c;
  const bs = c.bootstrap ?? {};
  if (!isPlainObject(bs)) return c; // reported by validation
  const dcs = bs.dcs ?? {};
  if (!isPlainObject(dcs) || dcs.synchronousMode !== undefined) return c;
  return { ...c, bootstrap: { ...bs, dcs: { ...dcs, synchronousMode: "quorum" } } };
}

/** Resolve file-system paths against `cwd` (Patroni resolves them against its working directory too). */
export function resolvePaths(c: Config, cwd: string): Config {
  /** A copy of `section` with the named path fields made absolute (absent fields stay absent). */
  const fix = <T extends object>(section: T, keys: (keyof T)[]): T => {
    const out = { ...section };
    for (const k of keys) {
      const p = out[k];
      if (typeof p === "string" && p !== "" && !isAbsolute(p)) out[k] = resolve(cwd, p) as T[keyof T];
    }
    return out;
  };
  const tlsKeys = ["cacert", "cert", "key"] as const;
  return {
    ...c,
    log: fix(c.log, ["dir"]),
    ...(c.etcd3 ? { etcd3: fix(c.etcd3, [...tlsKeys]) } : {}),
    ...(c.consul ? { consul: fix(c.consul, [...tlsKeys]) } : {}),
    ...(c.zookeeper ? { zookeeper: fix(c.zookeeper, [...tlsKeys]) } : {}),
    restapi: fix(c.restapi, ["certfile", "keyfile", "cafile"]),
    ctl: fix(c.ctl, ["cacert", "certfile", "keyfile"]),
    postgresql: fix(c.postgresql, ["dataDir", "configDir", "binDir", "pgpass", "customConf"]),
    watchdog: fix(c.watchdog, ["device"]),
  };
}
