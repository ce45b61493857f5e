/**
 * Peer health: `GET <api_url>` of other members (their /patroni status) during races and failover checks,
 * and `POST /failsafe` from a primary while the DCS is down. 2 s timeout, no retries, in parallel.
 */
import type { Member } from "../dcs/types.ts";
import type { PeerStatus } from "../ha/types.ts";

export interface PeerClient {
  status(members: Member[]): Promise<PeerStatus[]>;
  /** POST /failsafe to each; true when every one accepted. */
  failsafe(targets: { name: string; apiUrl: string }[], body: Record<string, unknown>): Promise<boolean>;
}

/** Parse a Patroni status document into what the race needs. */
export function parsePeerStatus(name: string, doc: Record<string, unknown>): PeerStatus {
  const xlog = (doc.xlog ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  const received = num(xlog.received_location);
  const replayed = num(xlog.replayed_location);
  const location = num(xlog.location);
  const role = doc.role;
  const tags = (doc.tags ?? {}) as Record<string, unknown>;
  const isPrimary = role === "primary" || role === "master";
  const lsn = isPrimary ? location : Math.max(received ?? 0, replayed ?? 0);
  return {
    name,
    reachable: true,
    isPrimary,
    lsn,
    timeline: num(doc.timeline),
    nofailover: tags.nofailover === true ||
      (typeof tags.failover_priority === "number" && tags.failover_priority <= 0 &&
        tags.nofailover !== false),
    failoverPriority: num(tags.failover_priority),
    watchdogFailed: doc.watchdog_failed === true,
  };
}

export function httpPeerClient(
  opts: { timeoutMs?: number; auth?: { username: string; password: string } } = {},
): PeerClient {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const headers: Record<string, string> = {};
  if (opts.auth) headers.authorization = "Basic " + btoa(`${opts.auth.username}:${opts.auth.password}`);
  return {
    status(members) {
      return Promise.all(members.map(async (m): Promise<PeerStatus> => {
        if (!m.data.api_url) return { name: m.name, reachable: false };
        try {
          const r = await fetch(m.data.api_url, { signal: AbortSignal.timeout(timeoutMs) });
          const doc = await r.json();
          return parsePeerStatus(m.name, doc);
        } catch {
          return { name: m.name, reachable: false };
        }
      }));
    },
    async failsafe(targets, body) {
      const results = await Promise.all(targets.map(async (t) => {
        const url = t.apiUrl.replace(/\/patroni$/, "") + "/failsafe";
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            const r = await fetch(url, {
              method: "POST",
              headers: { ...headers, "content-type": "application/json" },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(timeoutMs),
            });
            // Patroni counts only `200 Accepted`: a member running as primary answers 500.
            return r.status === 200 && (await r.text()).trim() === "Accepted";
          } catch {
            // one retry, as Patroni
          }
        }
        return false;
      }));
      return results.every(Boolean);
    },
  };
}
