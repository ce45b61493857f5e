/**
 * The `POST /citus` body a worker primary sends to the coordinator leader around a primary change
 * (Patroni's format): `{type, group, leader, timeout, cooldown}`, timeout = ttl (s), cooldown = retry_timeout (s).
 */
import { z } from "zod";

export const CITUS_EVENT_TYPES = ["before_demote", "before_promote", "after_promote"] as const;
export type CitusEventType = typeof CITUS_EVENT_TYPES[number];

export const CitusEventSchema = z.looseObject({
  type: z.enum(CITUS_EVENT_TYPES),
  group: z.number().int().min(1),
  /** The worker group's leader (the demoting primary, or the promoting one). */
  leader: z.string().min(1),
  /** Seconds the coordinator may hold the group's transaction open (the worker's ttl). */
  timeout: z.number().positive(),
  /** Seconds citus_update_node waits for shard locks before ending the transactions holding them. */
  cooldown: z.number().min(0),
});
export type CitusEvent = z.infer<typeof CitusEventSchema>;

/** HTTP timeout of the notification: before_demote waits until the coordinator applied it (up to ttl). */
export function notifyTimeoutMs(type: CitusEventType, ttlS: number): number {
  return type === "before_demote" ? ttlS * 1000 : 2000;
}
