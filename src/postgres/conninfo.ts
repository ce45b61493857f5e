/**
 * libpq connection strings and password files. Passwords never go on a command line: tools get
 * `PGPASSFILE`, and `primary_conninfo` names a `passfile`.
 */

/** Quote one conninfo value: bare when safe, else single-quoted with `\` escapes (libpq rules). */
export function quoteConninfoValue(v: string): string {
  if (v !== "" && /^[^\s'\\]+$/.test(v)) return v;
  return `'${v.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** `{host: "h", port: 5432}` → `host=h port=5432` in insertion order, skipping undefined/empty values. */
export function formatConninfo(params: Record<string, string | number | undefined | null>): string {
  return Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${k}=${quoteConninfoValue(String(v))}`)
    .join(" ");
}

/** Parse a `key=value ...` conninfo string (not URLs). Pure; unknown syntax yields what could be read. */
export function parseConninfo(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const skipWs = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  while (i < s.length) {
    skipWs();
    const eq = s.indexOf("=", i);
    if (eq < 0) break;
    const key = s.slice(i, eq).trim();
    i = eq + 1;
    skipWs();
    let val = "";
    if (s[i] === "'") {
      i++;
      while (i < s.length && s[i] !== "'") {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        val += s[i];
        i++;
      }
      i++;
    } else {
      while (i < s.length && !/\s/.test(s[i]!)) {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        val += s[i];
        i++;
      }
    }
    if (key) out[key] = val;
  }
  return out;
}

/** A postgres:// URL without the password (what Patroni hands to post_bootstrap and replica methods). */
export function connUrl(p: { host: string; port: number; user: string; database: string }): string {
  const host = p.host.includes(":") && !p.host.startsWith("[") ? `[${p.host}]` : p.host;
  return `postgres://${encodeURIComponent(p.user)}@${host}:${p.port}/${encodeURIComponent(p.database)}`;
}

export interface PgpassEntry {
  host?: string;
  port?: number | string;
  database?: string;
  user: string;
  password: string;
}

/** Render a .pgpass file; `*` for missing fields, `:` and `\` escaped. */
export function renderPgpass(entries: PgpassEntry[]): string {
  const esc = (v: string) => v.replaceAll("\\", "\\\\").replaceAll(":", "\\:");
  return entries
    .map((e) =>
      [e.host ?? "*", String(e.port ?? "*"), e.database ?? "*", e.user, e.password]
        .map((f, i) => (i < 3 && f === "*" ? f : esc(f)))
        .join(":")
    )
    .join("\n") + "\n";
}

/** `host:port` of the first host in a conninfo (primary_conninfo), or null. */
export function upstreamOf(conninfo: string): string | null {
  const p = parseConninfo(conninfo);
  const host = p.host?.split(",")[0] ?? p.hostaddr?.split(",")[0];
  if (!host) return null;
  const port = p.port?.split(",")[0] || "5432";
  return `${host}:${port}`;
}
