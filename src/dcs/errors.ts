/**
 * DCS error taxonomy. The HA loop fails closed: anything that is not positively recognised is
 * `DcsUnavailableError` ("the store cannot be trusted right now"), never "there is no leader".
 * A lost compare-and-set is not an error: operations return `false`.
 */
export class DcsError extends Error {
  override name = "DcsError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The store did not answer within the retry budget, or answered something we do not understand. */
export class DcsUnavailableError extends DcsError {
  override name = "DcsUnavailableError";
}

/** Stored data could not be parsed; the caller keeps the previous good value. */
export class DcsDataError extends DcsError {
  override name = "DcsDataError";
  constructor(readonly key: string, message: string, options?: { cause?: unknown }) {
    super(`${key}: ${message}`, options);
  }
}

/** Wrap any failure as DcsUnavailableError unless it already is a DcsError. */
export function asDcsError(op: string, e: unknown): DcsError {
  if (e instanceof DcsError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new DcsUnavailableError(`${op} failed: ${msg}`, { cause: e });
}
