/**
 * A simulated watchdog device on the virtual clock. The simulation resets the machine (agent and
 * PostgreSQL die, the node reboots later) when an armed device has not been kept alive within its timeout,
 * which is what stops a frozen agent's PostgreSQL from serving writes after its lock expired.
 */
import type { WatchdogDevice } from "../agent/watchdog.ts";
import type { Clock } from "../util/clock.ts";

export class SimWatchdogDevice implements WatchdogDevice {
  #open = false;
  #timeoutS = 60;
  #lastKeepaliveAt = 0;

  constructor(readonly clock: Clock) {}

  get isOpen(): boolean {
    return this.#open;
  }
  get canSetTimeout(): boolean {
    return true;
  }
  get canBeDisabled(): boolean {
    return true;
  }

  open(): Promise<void> {
    this.#open = true;
    this.#lastKeepaliveAt = this.clock.now();
    return Promise.resolve();
  }

  /** Like the Linux driver, setting the timeout restarts the timer. */
  setTimeout(seconds: number): void {
    this.#timeoutS = seconds;
    this.#lastKeepaliveAt = this.clock.now();
  }

  getTimeout(): number {
    return this.#timeoutS;
  }

  keepalive(): void {
    this.#lastKeepaliveAt = this.clock.now();
  }

  close(): void {
    this.#open = false;
  }

  describe(): string {
    return "simulated watchdog";
  }

  /** The timer ran out: the machine resets now. */
  expired(now: number): boolean {
    return this.#open && now - this.#lastKeepaliveAt > this.#timeoutS * 1000;
  }
}
