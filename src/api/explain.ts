/** `GET /explain` (pgwarden addition): the last HA decision with its reason and the candidate verdicts. */
import type { AgentView } from "../agent/status.ts";
import type { Decision } from "../ha/types.ts";
import { type ApiResponse, jsonResponse } from "./http.ts";

export interface ExplainJson {
  at: string;
  code: string;
  message: string;
  action: string;
  details: Decision["action"];
  candidates: Decision["candidates"];
}

export function explainDecision(d: Decision): ExplainJson {
  return {
    at: new Date(d.at).toISOString(),
    code: d.code,
    message: d.message,
    action: d.action.type,
    details: d.action,
    candidates: d.candidates,
  };
}

/** 200 with the last decision; 503 before the first HA cycle finished. */
export function getExplain(view: AgentView): ApiResponse {
  if (!view.lastDecision) return jsonResponse(503, { code: null, message: "no HA cycle has completed yet" });
  return jsonResponse(200, explainDecision(view.lastDecision));
}
