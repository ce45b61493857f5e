/**
 * Routing (Patroni `parse_request`): the first path segment and the method select a handler; GET, HEAD and
 * OPTIONS fall back to the health check, other methods on unknown paths get 501. Unsafe handlers pass the
 * access checks first. Transport-neutral: `server.ts` feeds it requests.
 */
import type { AgentControl } from "../agent/status.ts";
import type { Clock } from "../util/clock.ts";
import { type AccessPolicy, checkAccess, memberNets, type Resolver } from "./auth.ts";
import { getCluster, getFailsafe, getHistory } from "./cluster.ts";
import { getConfig, patchConfigRoute, putConfigRoute } from "./config_routes.ts";
import { getExplain } from "./explain.ts";
import { healthStatus, livenessStatus, readinessStatus } from "./health.ts";
import {
  type ApiRequest,
  type ApiResponse,
  bareResponse,
  BodyError,
  errorResponse,
  jsonResponse,
} from "./http.ts";
import { type PgwardenMetrics, renderMetrics } from "./metrics.ts";
import {
  deleteRestart,
  postCitus,
  postFailsafe,
  postReinitialize,
  postReload,
  postRestart,
  postSigterm,
} from "./operations.ts";
import { statusDocument } from "./status_doc.ts";
import { getUi } from "./ui.ts";
import { deleteSwitchover, type PeerStatusFetcher, postFailover } from "./switchover.ts";

export interface ApiContext {
  control: AgentControl;
  clock: Clock;
  fetchStatus: PeerStatusFetcher;
  policy: AccessPolicy;
  resolver: Resolver;
  metrics: PgwardenMetrics;
}

type Handler = (ctx: ApiContext, req: ApiRequest) => ApiResponse | Promise<ApiResponse>;

const now = (ctx: ApiContext) => ctx.clock.now();

const SAFE: Record<string, Handler> = {
  "GET patroni": async (ctx) => {
    await ctx.control.refreshPg?.(1000).catch(() => {});
    return jsonResponse(200, statusDocument(ctx.control.view(), now(ctx)));
  },
  "GET cluster": (ctx) => getCluster(ctx.control),
  "GET history": (ctx) => getHistory(ctx.control, now(ctx)),
  "GET config": (ctx) => getConfig(ctx.control, now(ctx)),
  "GET failsafe": (ctx) => getFailsafe(ctx.control),
  "GET explain": (ctx) => getExplain(ctx.control.view()),
  "GET ui": (ctx, req) => getUi(ctx.control.view(), req.query),
  "GET liveness": (ctx) => bareResponse(livenessStatus(ctx.control.view(), now(ctx))),
  "GET readiness": (ctx, req) => bareResponse(readinessStatus(ctx.control.view(), req.query, now(ctx))),
  "GET metrics": async (ctx) => ({
    status: 200,
    body: await renderMetrics(ctx.control.view(), now(ctx), ctx.metrics),
    contentType: "text/plain",
  }),
  // Patroni answers HEAD /liveness and /readiness through the generic check (always 503); probing them with
  // HEAD is more useful when it reports the real state.
  "HEAD liveness": (ctx) => bareResponse(livenessStatus(ctx.control.view(), now(ctx))),
  "HEAD readiness": (ctx, req) => bareResponse(readinessStatus(ctx.control.view(), req.query, now(ctx))),
  "OPTIONS liveness": (ctx) => bareResponse(livenessStatus(ctx.control.view(), now(ctx))),
  "OPTIONS readiness": (ctx, req) => bareResponse(readinessStatus(ctx.control.view(), req.query, now(ctx))),
};

const UNSAFE: Record<string, Handler> = {
  "PATCH config": (ctx, req) => patchConfigRoute(ctx.control, req),
  "PUT config": (ctx, req) => putConfigRoute(ctx.control, req),
  "POST reload": (ctx) => postReload(ctx.control),
  "POST restart": (ctx, req) => postRestart(ctx.control, req, now(ctx)),
  "DELETE restart": (ctx) => deleteRestart(ctx.control),
  "POST switchover": (ctx, req) => postFailover(ctx.control, req, "switchover", ctx),
  "POST failover": (ctx, req) => postFailover(ctx.control, req, "failover", ctx),
  "DELETE switchover": (ctx) => deleteSwitchover(ctx.control),
  "POST reinitialize": (ctx, req) => postReinitialize(ctx.control, req),
  "POST citus": (ctx, req) => postCitus(ctx.control, req),
  // Patroni routes /mpp around its access checks; here it is checked like /citus.
  "POST mpp": (ctx, req) => postCitus(ctx.control, req),
  "POST failsafe": (ctx, req) => postFailsafe(ctx.control, req),
  "POST sigterm": () => postSigterm(),
};

/** Endpoints whose callers are not allowlisted as members (peers posting while the DCS is down). */
const NO_MEMBER_ALLOWLIST = new Set(["POST failsafe"]);

/** The generic GET/HEAD/OPTIONS health check. */
function health(ctx: ApiContext, req: ApiRequest, bare: boolean): ApiResponse {
  const view = ctx.control.view();
  const code = healthStatus(view, req.path, req.query, now(ctx));
  return bare ? bareResponse(code) : jsonResponse(code, statusDocument(view, now(ctx)));
}

/** Dispatch one request. `clientCertVerified` is what the transport established about the peer. */
export async function route(
  ctx: ApiContext,
  req: ApiRequest,
  clientCertVerified = false,
): Promise<ApiResponse> {
  const segment = req.path.replace(/^\/+/, "").split("/")[0] ?? "";
  const key = `${req.method} ${segment}`;
  try {
    const safe = SAFE[key];
    if (safe) return await safe(ctx, req);
    const unsafe = UNSAFE[key];
    if (unsafe) {
      const refused = await checkAccess(req, ctx.policy, {
        members: () => memberNets(ctx.control.view().cluster, ctx.resolver),
        checkMembers: !NO_MEMBER_ALLOWLIST.has(key),
        clientCertVerified,
      });
      return refused ?? await unsafe(ctx, req);
    }
    if (req.method === "GET") return health(ctx, req, false);
    if (req.method === "HEAD" || req.method === "OPTIONS") return health(ctx, req, true);
    return errorResponse(501, `Unsupported method (${JSON.stringify(req.method)})`);
  } catch (e) {
    if (e instanceof BodyError) return e.response;
    return errorResponse(500, (e as Error).message);
  }
}
