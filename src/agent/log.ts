/**
 * Structured logging. `patroni` format keeps Patroni's line shape (`2024-08-28 19:39:26,352 INFO: msg`) so
 * existing log alerts match; `json` writes one object per line with the structured fields.
 */
export type Level = "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL";
const ORDER: Record<Level, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: Level;
  format?: "patroni" | "json";
  /** Where lines go (stderr by default). */
  write?: (line: string) => void;
  now?: () => number;
}

function patroniTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:` +
    `${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())},${p(d.getUTCMilliseconds(), 3)}`;
}

const encoder = new TextEncoder();
const defaultWrite = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

export function createLogger(opts: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const min = ORDER[opts.level ?? "INFO"];
  const write = opts.write ?? defaultWrite;
  const now = opts.now ?? Date.now;
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const all = { ...base, ...fields };
    if (opts.format === "json") {
      write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...all }));
    } else {
      const extra = Object.keys(fields ?? {}).length ? " " + JSON.stringify(fields) : "";
      write(`${patroniTime(now())} ${level}: ${msg}${extra}`);
    }
  };
  return {
    debug: (m, f) => emit("DEBUG", m, f),
    info: (m, f) => emit("INFO", m, f),
    warn: (m, f) => emit("WARNING", m, f),
    error: (m, f) => emit("ERROR", m, f),
    child: (f) => createLogger(opts, { ...base, ...f }),
  };
}

/** A logger that keeps lines in memory (tests, simulation). */
export function memoryLogger(lines: string[] = []): Logger & { lines: string[] } {
  const l = createLogger({ level: "DEBUG", format: "patroni", write: (s) => lines.push(s), now: () => 0 });
  return Object.assign(l, { lines });
}
