/**
 * Bench helper: how many store requests one DCS operation costs. Works with every client that exposes
 * `requestCount` (etcd3, memory); returns `requests: null` for backends that do not count.
 */
import type { Dcs } from "./types.ts";

export async function countRequests<T>(
  dcs: Dcs,
  op: () => Promise<T>,
): Promise<{ value: T; requests: number | null }> {
  const before = dcs.requestCount;
  const value = await op();
  const after = dcs.requestCount;
  return { value, requests: before === undefined || after === undefined ? null : after - before };
}
