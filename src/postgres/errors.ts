/**
 * PostgreSQL-side error taxonomy. The HA loop treats `PgUnreachableError` as "state unknown this cycle"
 * (retry next cycle); `PgCommandError` carries the failed tool's output so the reason can be logged.
 */
export class PgError extends Error {
  override name = "PgError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** No SQL connection to the local (or a remote) PostgreSQL could be made or kept. */
export class PgUnreachableError extends PgError {
  override name = "PgUnreachableError";
}

/** A PostgreSQL tool (initdb, pg_ctl, pg_basebackup, pg_rewind, ...) exited unsuccessfully or timed out. */
export class PgCommandError extends PgError {
  override name = "PgCommandError";
  constructor(
    readonly command: string,
    readonly code: number,
    readonly stderr: string,
    options?: { cause?: unknown; timedOut?: boolean },
  ) {
    super(
      `Cannot run "${command}": ${options?.timedOut ? "timed out" : `exit code ${code}`}` +
        (stderr.trim() ? `: ${lastLines(stderr, 5)}` : ""),
      options,
    );
  }
}

/** The data directory or configuration is not in a state the requested operation can work with. */
export class PgStateError extends PgError {
  override name = "PgStateError";
}

function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join(" | ");
}
