/** Drive the REST router without a socket: build requests, a context with an instant clock, fake peers. */
import type { AccessPolicy } from "../../src/api/auth.ts";
import type { ApiRequest, ApiResponse } from "../../src/api/http.ts";
import { PgwardenMetrics } from "../../src/api/metrics.ts";
import { type ApiContext, route } from "../../src/api/router.ts";
import type { Clock } from "../../src/util/clock.ts";
import { type FakeAgent, NOW } from "./fake_agent.ts";

export interface RequestInit {
  body?: unknown;
  /** Raw body text (sent as is, with a Content-Length header). */
  raw?: string;
  headers?: Record<string, string>;
  ip?: string;
  /** Omit the Content-Length header even when a body is given. */
  noLength?: boolean;
}

export function apiRequest(method: string, target: string, init: RequestInit = {}): ApiRequest {
  const url = new URL(target, "http://api.test");
  const body = init.raw ?? (init.body === undefined ? "" : JSON.stringify(init.body));
  const headers = new Headers(init.headers);
  if ((init.raw !== undefined || init.body !== undefined) && !init.noLength) {
    headers.set("content-length", String(new TextEncoder().encode(body).length));
  }
  return {
    method,
    path: url.pathname,
    query: url.searchParams,
    headers,
    body,
    remoteIp: init.ip ?? "127.0.0.1",
    tls: false,
  };
}

/** A clock frozen at `NOW` whose sleeps return at once (counted), so polling loops finish instantly. */
export function instantClock(): Clock & { sleeps: number } {
  const c = {
    sleeps: 0,
    now: () => NOW,
    sleep: () => {
      c.sleeps++;
      return Promise.resolve();
    },
  };
  return c;
}

export const OPEN_POLICY: AccessPolicy = {
  allowlist: [],
  includeMembers: false,
  authKey: null,
  requireClientCert: false,
};

export interface Harness {
  ctx: ApiContext;
  clock: Clock & { sleeps: number };
  /** Status documents peers answer, by api_url; missing = unreachable. */
  peers: Map<string, Record<string, unknown>>;
  call(method: string, target: string, init?: RequestInit): Promise<ApiResponse>;
  json(res: ApiResponse): unknown;
}

export function harness(agent: FakeAgent, policy: AccessPolicy = OPEN_POLICY): Harness {
  const clock = instantClock();
  const peers = new Map<string, Record<string, unknown>>();
  const ctx: ApiContext = {
    control: agent,
    clock,
    fetchStatus: (url) => Promise.resolve(peers.get(url) ?? null),
    policy,
    resolver: () => Promise.resolve([]),
    metrics: new PgwardenMetrics(),
  };
  return {
    ctx,
    clock,
    peers,
    call: (method, target, init) => route(ctx, apiRequest(method, target, init)),
    json: (res) => JSON.parse(res.body ?? "null"),
  };
}
