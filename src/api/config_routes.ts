/**
 * `GET|PATCH|PUT /config`: the dynamic configuration in the DCS `config` key. Unlike Patroni, a document
 * that would not validate is refused with 400 before anything is written, and `?dry_run=1` returns the plan
 * (what changes, and which members would reload or restart) without writing.
 */
import type { AgentControl } from "../agent/status.ts";
import { camelToSnake } from "../config/case.ts";
import { fromPatroniDynamic } from "../config/dynamic.ts";
import type { ClusterSnapshot } from "../dcs/types.ts";
import {
  type ApiRequest,
  type ApiResponse,
  errorResponse,
  jsonResponse,
  queryParam,
  readJsonObject,
} from "./http.ts";
import { needsRestart } from "./postmaster_gucs.ts";
import { parseBool } from "./units.ts";
import { cachedCluster } from "./view_facts.ts";

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

/** Python `str()` of a JSON value, which Patroni compares to decide whether a value changed. */
function pyStr(v: unknown): string {
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "string" || typeof v === "number") return String(v);
  return JSON.stringify(v);
}

/**
 * Patroni `patch_config` on a copy: `null` deletes, objects merge recursively, new keys are added, other
 * values are replaced when their string forms differ.
 */
export function patchConfig(config: Json, patch: Json): { result: Json; changed: boolean } {
  const result = structuredClone(config);
  const changed = patchInPlace(result, patch);
  return { result, changed };
}

function patchInPlace(config: Json, patch: Json): boolean {
  let changed = false;
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) {
      if (name in config) {
        // Patroni counts a removal as a change only when the removed value was not null itself.
        if (config[name] !== null) changed = true;
        delete config[name];
      }
    } else if (name in config) {
      if (isObject(value)) {
        const cur = config[name];
        if (isObject(cur)) {
          if (patchInPlace(cur, value)) changed = true;
        } else {
          config[name] = structuredClone(value);
          changed = true;
        }
      } else if (pyStr(config[name]) !== pyStr(value)) {
        config[name] = structuredClone(value);
        changed = true;
      }
    } else {
      config[name] = structuredClone(value);
      changed = true;
    }
  }
  return changed;
}

export interface ConfigChange {
  path: string;
  old?: unknown;
  new?: unknown;
}

/** Leaf-level differences between two documents (dotted paths; absent sides omitted). */
export function configDiff(before: Json, after: Json, prefix = ""): ConfigChange[] {
  const out: ConfigChange[] = [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const k of keys) {
    const path = prefix ? `${prefix}.${k}` : k;
    const a = before[k];
    const b = after[k];
    // Objects added or removed as a whole are listed leaf by leaf, so a plan sees every parameter.
    if ((isObject(a) || a === undefined) && (isObject(b) || b === undefined)) {
      out.push(...configDiff((a ?? {}) as Json, (b ?? {}) as Json, path));
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      out.push({ path, ...(a !== undefined ? { old: a } : {}), ...(b !== undefined ? { new: b } : {}) });
    }
  }
  return out;
}

/** JSON with object keys sorted, so documents compare independently of key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isObject(v)) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

export interface ConfigPlan {
  diff: ConfigChange[];
  /** Changed PostgreSQL parameters that only apply after a restart. */
  restart_parameters: string[];
  members: { name: string; action: "reload" | "restart" }[];
}

/** What applying `after` would do: every member reloads, or restarts when a postmaster-context GUC changed. */
export function configPlan(before: Json, after: Json, memberNames: string[]): ConfigPlan {
  const diff = configDiff(before, after);
  const restartParams = new Set<string>();
  for (const c of diff) {
    const m = /^postgresql\.parameters(?:\.(.+))?$/.exec(c.path);
    if (!m) continue;
    // A whole `parameters` object added or removed: look at the names inside it.
    const names = m[1] !== undefined
      ? [m[1]]
      : Object.keys({ ...(c.old as Json ?? {}), ...(c.new as Json ?? {}) });
    for (const n of names) if (needsRestart(n)) restartParams.add(n);
  }
  const action = restartParams.size ? "restart" : "reload";
  return {
    diff,
    restart_parameters: [...restartParams].sort(),
    members: diff.length ? [...memberNames].sort().map((name) => ({ name, action })) : [],
  };
}

/** Validate a Patroni dynamic config document; the message names each offending path in snake_case. */
export function validateDynamic(doc: Json): string | null {
  try {
    fromPatroniDynamic(doc);
    return null;
  } catch (e) {
    const issues = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
    if (!issues) return `invalid configuration: ${(e as Error).message}`;
    const parts = issues.map((i) => {
      const path = i.path.map((p, idx) =>
        typeof p === "string" && !(idx > 1 && i.path[0] === "postgresql" && i.path[1] === "parameters")
          ? camelToSnake(p)
          : String(p)
      ).join(".");
      return path ? `${path}: ${i.message}` : i.message;
    });
    return `invalid configuration: ${parts.join("; ")}`;
  }
}

/**
 * Parameter values this node's PostgreSQL would reject (checked against its pg_settings): refused before the
 * write, since every member would otherwise skip the document.
 */
function parameterProblems(control: AgentControl, doc: Json): string | null {
  const pg = doc.postgresql;
  const params = isObject(pg) && isObject(pg.parameters) ? pg.parameters : {};
  const problems = control.validateParameters?.(params) ?? [];
  return problems.length ? `invalid configuration: postgresql.parameters: ${problems.join("; ")}` : null;
}

async function readCluster(control: AgentControl): Promise<ClusterSnapshot | ApiResponse> {
  try {
    return await control.dcs.getCluster();
  } catch (e) {
    return errorResponse(503, `DCS is not accessible: ${(e as Error).message}`);
  }
}

const isResponse = (v: unknown): v is ApiResponse => typeof (v as ApiResponse).status === "number";
const isDryRun = (req: ApiRequest) => parseBool(queryParam(req.query, "dry_run") ?? "0") === true;

/** `GET /config`: 200 with the stored document, 502 when the key is absent. */
export async function getConfig(control: AgentControl, nowMs: number): Promise<ApiResponse> {
  let s: ClusterSnapshot | ApiResponse | null = cachedCluster(control.view(), nowMs);
  if (!s) s = await readCluster(control);
  if (isResponse(s)) return s;
  return s.config ? jsonResponse(200, s.config.value) : errorResponse(502);
}

/** `PATCH /config`: deep-merge the body into the stored document with compare-and-set on its version. */
export async function patchConfigRoute(control: AgentControl, req: ApiRequest): Promise<ApiResponse> {
  const body = readJsonObject(req);
  const s = await readCluster(control);
  if (isResponse(s)) return s;
  if (!s.config) return errorResponse(503, "the configuration key is missing in the DCS");
  const { result, changed } = patchConfig(s.config.value, body);
  const invalid = validateDynamic(result) ?? parameterProblems(control, result);
  if (invalid) return errorResponse(400, invalid);
  if (isDryRun(req)) {
    return jsonResponse(
      200,
      configPlan(
        s.config.value,
        result,
        s.members.map((m) => m.name),
      ),
    );
  }
  if (changed) {
    let ok: boolean;
    try {
      ok = await control.dcs.setConfigValue(JSON.stringify(result), s.config.version);
    } catch (e) {
      return errorResponse(503, `DCS is not accessible: ${(e as Error).message}`);
    }
    if (!ok) return errorResponse(409, "the configuration was changed concurrently");
  }
  control.wake();
  return jsonResponse(200, result);
}

/** `PUT /config`: replace the document (no version check), only when it differs. */
export async function putConfigRoute(control: AgentControl, req: ApiRequest): Promise<ApiResponse> {
  const body = readJsonObject(req);
  const invalid = validateDynamic(body) ?? parameterProblems(control, body);
  if (invalid) return errorResponse(400, invalid);
  const s = await readCluster(control);
  if (isResponse(s)) return s;
  if (isDryRun(req)) {
    return jsonResponse(200, configPlan(s.config?.value ?? {}, body, s.members.map((m) => m.name)));
  }
  if (!s.config || canonical(s.config.value) !== canonical(body)) {
    let ok: boolean;
    try {
      ok = await control.dcs.setConfigValue(JSON.stringify(body));
    } catch {
      ok = false;
    }
    if (!ok) return errorResponse(502);
    control.wake();
  }
  return jsonResponse(200, body);
}
