/**
 * Output formats shared by the ctl commands, matching patronictl: `pretty` (a PrettyTable-style box with the
 * title written into the top rule), `tsv`, `json` (Python `json.dumps` spacing) and `yaml` (PyYAML
 * `safe_dump` style: sorted keys, block style, sequences not indented).
 */
import { stringify } from "yaml";

export type OutputFormat = "pretty" | "tsv" | "json" | "yaml" | "topology";
export const OUTPUT_FORMATS = ["pretty", "tsv", "json", "yaml"] as const;

export type Cell = string | number | boolean | null | undefined | Record<string, unknown>;
export type Align = "l" | "r";

export interface TableOptions {
  /** Text written into the top rule (`+ Cluster: x (sysid) ---+`). */
  title?: string;
  /** Per-column alignment; default left. Headers follow their column's alignment. */
  align?: Record<string, Align>;
}

/** Python `str()` of a cell as patronictl prints it. */
export function cellText(v: Cell): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "object") return toYaml(v, true).trim();
  return String(v);
}

/** Display width: code points (good enough for the ASCII tables Patroni prints). */
const width = (s: string) => [...s].length;

function justify(s: string, w: number, align: Align): string {
  const pad = " ".repeat(Math.max(0, w - width(s)));
  return align === "r" ? pad + s : s + pad;
}

/**
 * A PrettyTable box. Cells containing newlines span several lines, and then every row is followed by a rule
 * (PrettyTable `hrules=ALL`), otherwise only the frame is drawn. A title longer than the table widens the
 * last column instead of being cut (patronictl 3 cut it).
 */
export function renderTable(columns: string[], rows: Cell[][], opts: TableOptions = {}): string {
  const text = rows.map((r) => columns.map((_, i) => cellText(r[i]).split("\n")));
  const widths = columns.map((c, i) => Math.max(width(c), ...text.map((r) => Math.max(...r[i]!.map(width)))));
  const rule = () => "+" + widths.map((w) => "-".repeat(w + 2)).join("+") + "+";
  if (opts.title && widths.length) {
    const missing = width(opts.title) + 2 - width(rule());
    if (missing > 0) widths[widths.length - 1]! += missing;
  }
  const align = (c: string): Align => opts.align?.[c] ?? "l";
  const line = (cells: string[]) =>
    "|" + cells.map((c, i) => ` ${justify(c, widths[i]!, align(columns[i]!))} `).join("|") + "|";
  const multiLine = text.some((r) => r.some((c) => c.length > 1));
  let top = rule();
  if (opts.title) top = top[0] + opts.title + top.slice(1 + width(opts.title));
  const out = [top, line(columns), rule()];
  for (const r of text) {
    const h = Math.max(1, ...r.map((c) => c.length));
    for (let k = 0; k < h; k++) out.push(line(r.map((c) => c[k] ?? "")));
    if (multiLine) out.push(rule());
  }
  if (!multiLine) out.push(rule());
  return out.join("\n");
}

/** Python `json.dumps` with default separators (`, ` and `: `) and `ensure_ascii`. */
export function pyJson(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") {
    return JSON.stringify(v).replace(
      /[\u007f-\uffff]/g,
      (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
    );
  }
  if (typeof v === "number") {
    return Number.isFinite(v) ? String(v) : v > 0 ? "Infinity" : v < 0 ? "-Infinity" : "NaN";
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (Array.isArray(v)) return "[" + v.map(pyJson).join(", ") + "]";
  return "{" +
    Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${pyJson(k)}: ${pyJson(x)}`).join(", ") +
    "}";
}

/**
 * YAML as patronictl prints configs (PyYAML `safe_dump`): sorted keys, block style (flow style with `flow`),
 * no line folding. YAML 1.1 quoting, so strings like `on` stay strings when read back by Patroni.
 */
export function toYaml(data: unknown, flow = false): string {
  return stringify(data, {
    version: "1.1",
    sortMapEntries: true,
    lineWidth: 0,
    indentSeq: false,
    singleQuote: true,
    flowCollectionPadding: false,
    ...(flow ? { collectionStyle: "flow" as const } : {}),
  });
}

export interface PrintOptions extends TableOptions {
  fmt?: OutputFormat;
  /** TSV delimiter (query --delimiter). */
  delimiter?: string;
}

/**
 * patronictl `print_output`: one table in the requested format. For the cluster listing (first column
 * `Cluster`) the pretty format drops the Cluster (and Group when grouped by one) columns and formats Tags as
 * YAML; json/yaml leave out empty cells when a title is given.
 */
export function formatOutput(columns: string[], rows: Cell[][], opts: PrintOptions = {}): string {
  const fmt = opts.fmt ?? "pretty";
  if (fmt === "json" || fmt === "yaml") {
    const elements = rows.map((r) => {
      const o: Record<string, unknown> = {};
      columns.forEach((c, i) => {
        const v = r[i];
        if (!opts.title || cellText(v) !== "") o[c] = v ?? null;
      });
      return o;
    });
    return fmt === "json" ? pyJson(elements) : toYaml(elements).replace(/\n$/, "");
  }
  let cols = columns;
  let body = rows.map((r) => [...r]);
  const listCluster = !!opts.title && cols[0] === "Cluster";
  if (listCluster && cols.includes("Tags")) {
    const i = cols.indexOf("Tags");
    for (const r of body) {
      if (r[i] && typeof r[i] === "object") r[i] = toYaml(r[i], fmt !== "pretty").trim();
    }
  }
  if (listCluster && fmt !== "tsv") {
    const skip = opts.title!.includes(" (group: ") ? 2 : 1;
    cols = cols.slice(skip);
    body = body.map((r) => r.slice(skip));
  }
  if (fmt === "tsv") {
    const d = opts.delimiter ?? "\t";
    return [...(cols.length ? [cols] : []), ...body].map((r) => r.map((c) => cellText(c as Cell)).join(d))
      .join("\n");
  }
  return renderTable(cols, body, opts);
}

/** Parse a `-f/--format` value. */
export function parseFormat(v: string): OutputFormat {
  const f = v === "yml" ? "yaml" : v;
  if (!(OUTPUT_FORMATS as readonly string[]).includes(f)) {
    throw new RangeError(`Unknown output format ${JSON.stringify(v)}: expected pretty, tsv, json or yaml`);
  }
  return f as OutputFormat;
}

/** patronictl `timestamp(precision)`: local `YYYY-MM-DD HH:MM:SS[.ffffff]`. */
export function timestamp(nowMs: number, precision = 6): string {
  const d = new Date(nowMs);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const base = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:` +
    `${p(d.getMinutes())}:${p(d.getSeconds())}`;
  if (precision <= 0) return base;
  return `${base}.${p(d.getMilliseconds() * 1000, 6).slice(0, precision)}`;
}
