/**
 * Which endpoint of a multi-member store the next request goes to. Requests stick to the current endpoint;
 * a failed one is skipped for a while so a hung member (each try costs a whole attempt timeout) is not tried
 * again within one retry_timeout.
 *
 * When every endpoint failed recently, the one that failed longest ago is tried. That happens when a member
 * hangs: a healthy etcd 3.4 follower also times out while the hung leader is being replaced (it forwards a
 * lease keepalive to the old leader), and rotating to "the next one" then went back to the hung member and
 * spent the rest of retry_timeout there.
 */

/** How long a failed endpoint is skipped while another one is still believed healthy. */
export const SKIP_FAILED_ENDPOINT_MS = 5000;

export interface RingEndpoint<T> {
  readonly value: T;
  /** Skipped until this time (ms since epoch) unless every endpoint failed. */
  failedUntil: number;
}

export class EndpointRing<T> {
  readonly #endpoints: RingEndpoint<T>[];
  #current = 0;

  constructor(values: readonly T[], readonly now: () => number = Date.now) {
    if (values.length === 0) throw new Error("EndpointRing: expected at least one endpoint");
    this.#endpoints = values.map((value) => ({ value, failedUntil: 0 }));
  }

  /** The endpoint to use now: the current one unless it failed recently and another one has not. */
  pick(): RingEndpoint<T> {
    const now = this.now();
    const n = this.#endpoints.length;
    for (let i = 0; i < n; i++) {
      const e = this.#endpoints[(this.#current + i) % n]!;
      if (e.failedUntil <= now) {
        this.#current = (this.#current + i) % n;
        return e;
      }
    }
    // Every endpoint failed recently: the one whose failure is oldest has had the longest to recover.
    let best = 0;
    for (let i = 1; i < n; i++) {
      if (this.#endpoints[i]!.failedUntil < this.#endpoints[best]!.failedUntil) best = i;
    }
    this.#current = best;
    return this.#endpoints[best]!;
  }

  /** The endpoint did not answer (transport failure, timeout, "cannot serve"): move on. */
  failed(e: RingEndpoint<T>): void {
    e.failedUntil = this.now() + SKIP_FAILED_ENDPOINT_MS;
    const n = this.#endpoints.length;
    if (this.#endpoints[this.#current] === e) this.#current = (this.#current + 1) % n;
  }
}
