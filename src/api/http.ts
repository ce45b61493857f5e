/**
 * The transport-neutral request/response shapes the route modules use. Routes are plain async functions
 * `ApiRequest → ApiResponse`, so every endpoint is testable without a socket; `server.ts` adapts them to
 * `Deno.serve`.
 */

export interface ApiRequest {
  method: string;
  /** URL path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** Raw request body (empty string when none was sent). */
  body: string;
  /** Client IP address (no port), as the socket saw it. */
  remoteIp: string;
  /** The connection is TLS. */
  tls: boolean;
}

export interface ApiResponse {
  status: number;
  /** `undefined` for a bare status answer (health probes from HAProxy): no body, no extra headers. */
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** Reason phrases for the codes the API uses (Python's `http.server` wording). */
export const REASONS: Record<number, string> = {
  200: "OK",
  202: "Accepted",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  422: "Unprocessable Entity",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

export function jsonResponse(status: number, value: unknown, headers?: Record<string, string>): ApiResponse {
  return { status, body: JSON.stringify(value), contentType: "application/json", headers };
}

/** Operation results are `text/html` in Patroni (the body is a bare sentence). */
export function textResponse(status: number, message: string, headers?: Record<string, string>): ApiResponse {
  return { status, body: message, contentType: "text/html", headers };
}

export function bareResponse(status: number): ApiResponse {
  return { status };
}

/** An error page like `send_error`: the reason phrase, plus an explanation when we have one. */
export function errorResponse(status: number, detail?: string): ApiResponse {
  const reason = REASONS[status] ?? "Error";
  return textResponse(status, detail ? `${reason}: ${detail}` : reason);
}

/** A JSON request body that could not be used; carries the response to send. */
export class BodyError extends Error {
  override name = "BodyError";
  constructor(readonly response: ApiResponse) {
    super(response.body ?? String(response.status));
  }
}

/**
 * Parse the body as a JSON object (Patroni `_read_json_content`). A missing `Content-Length` is 411 unless the
 * body is optional; empty or non-object JSON is 400; an empty object is 400 unless the body is optional.
 */
export function readJsonObject(req: ApiRequest, optional = false): Record<string, unknown> {
  if (!req.headers.has("content-length")) {
    if (optional) return {};
    throw new BodyError(errorResponse(411, "a JSON body with Content-Length is required"));
  }
  if (req.body.trim() === "" && optional) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.body);
  } catch (e) {
    throw new BodyError(errorResponse(400, `invalid JSON body: ${(e as Error).message}`));
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new BodyError(errorResponse(400, "the body must be a JSON object"));
  }
  const obj = parsed as Record<string, unknown>;
  if (!optional && Object.keys(obj).length === 0) {
    throw new BodyError(errorResponse(400, "the body must be a non-empty JSON object"));
  }
  return obj;
}

/** First non-empty value of a query parameter (Python `parse_qs` drops blank values). */
export function queryParam(q: URLSearchParams, name: string): string | undefined {
  for (const v of q.getAll(name)) if (v !== "") return v;
  return undefined;
}
