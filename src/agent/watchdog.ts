/**
 * The watchdog (reference §6): while this node is the primary, a device resets the machine unless the agent
 * keeps it alive, so a hung agent cannot keep serving writes after its lock expired. Armed right before
 * promotion (and after bootstrap), kept alive after every successful lock renewal, disarmed with the magic
 * close `V` on demotion, in pause and on shutdown.
 *
 * Timeout = `ttl - safety_margin` (`ttl // 2` when the margin is -1): the machine resets `safety_margin`
 * seconds before the lock could expire. `required` refuses leadership when no safe watchdog can be armed;
 * `automatic` carries on without one.
 *
 * Drivers: `default` is the Linux device through ioctls (`watchdog_linux.ts`); `testing` is Patroni's test
 * harness protocol on a named pipe at `device`: `Ctimeout=<n>\n` when the timeout is set (on open and when
 * ttl changes), `1` for each keepalive, `V` when closed.
 */
import type { Logger } from "./log.ts";
import { LinuxWatchdogDevice, WatchdogError } from "./watchdog_linux.ts";

export { WatchdogError };

export interface WatchdogSettings {
  mode: "off" | "automatic" | "required";
  device: string;
  safetyMargin: number;
  driver: "default" | "testing";
}

export interface WatchdogTimings {
  ttl: number;
  loopWait: number;
}

type MaybePromise<T> = T | Promise<T>;

/** One watchdog device (open = armed). */
export interface WatchdogDevice {
  readonly isOpen: boolean;
  open(): Promise<void>;
  /** Whether WDIOC_SETTIMEOUT works (valid once open). */
  readonly canSetTimeout: boolean;
  /** Whether the magic close stops the timer (valid once open). */
  readonly canBeDisabled: boolean;
  setTimeout(seconds: number): MaybePromise<void>;
  getTimeout(): MaybePromise<number>;
  keepalive(): MaybePromise<void>;
  /** Magic close `V`, then close. */
  close(): MaybePromise<void>;
  describe(): string;
}

/** Patroni's test harness device: the ioctls become writes to a named pipe that a test reads. */
export class TestingWatchdogDevice implements WatchdogDevice {
  #file: Deno.FsFile | null = null;
  #timeout = 60;

  constructor(readonly device: string, readonly openTimeoutMs = 5000) {}

  get isOpen(): boolean {
    return this.#file !== null;
  }

  get canSetTimeout(): boolean {
    return true;
  }

  get canBeDisabled(): boolean {
    return true;
  }

  async open(): Promise<void> {
    // Opening a FIFO for writing waits for a reader: give up rather than hang the HA loop.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const pending = Deno.open(this.device, { write: true });
    const timedOut = Symbol("timeout");
    try {
      const r = await Promise.race([
        pending,
        new Promise<typeof timedOut>((
          resolve,
        ) => (timer = setTimeout(() => resolve(timedOut), this.openTimeoutMs))),
      ]);
      if (r === timedOut) {
        pending.then((f) => f.close()).catch(() => {});
        throw new WatchdogError(`Can't open watchdog device: ${this.device}: nobody reads it`);
      }
      this.#file = r;
    } catch (e) {
      if (e instanceof WatchdogError) throw e;
      throw new WatchdogError(`Can't open watchdog device: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async #write(s: string): Promise<void> {
    if (!this.#file) throw new WatchdogError("Watchdog device is closed");
    const buf = new TextEncoder().encode(s);
    let off = 0;
    try {
      while (off < buf.length) off += await this.#file.write(buf.subarray(off));
    } catch (e) {
      throw new WatchdogError(
        `Could not write to ${this.device}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  async setTimeout(seconds: number): Promise<void> {
    await this.#write(`Ctimeout=${seconds}\n`);
    this.#timeout = seconds;
  }

  getTimeout(): number {
    return this.#timeout;
  }

  keepalive(): Promise<void> {
    return this.#write("1");
  }

  async close(): Promise<void> {
    if (!this.#file) return;
    try {
      await this.#write("V");
    } finally {
      this.#file.close();
      this.#file = null;
    }
  }

  describe(): string {
    return `Watchdog test harness at ${this.device}`;
  }
}

/** The real device through FFI, behind the async interface. */
class LinuxDevice implements WatchdogDevice {
  readonly #dev: LinuxWatchdogDevice;
  constructor(device: string) {
    this.#dev = new LinuxWatchdogDevice(device);
    this.#dev.preload();
  }
  get isOpen() {
    return this.#dev.isOpen;
  }
  open() {
    return this.#dev.open();
  }
  get canSetTimeout() {
    return this.#dev.canSetTimeout;
  }
  get canBeDisabled() {
    return this.#dev.canBeDisabled;
  }
  setTimeout(s: number) {
    this.#dev.setTimeout(s);
  }
  getTimeout() {
    return this.#dev.getTimeout();
  }
  keepalive() {
    this.#dev.keepalive();
  }
  close() {
    this.#dev.close();
  }
  describe() {
    return this.#dev.describe();
  }
}

export function createWatchdogDevice(s: WatchdogSettings): WatchdogDevice {
  return s.driver === "testing" ? new TestingWatchdogDevice(s.device) : new LinuxDevice(s.device);
}

/** The watchdog facade the HA loop drives. */
export class Watchdog {
  #timings: WatchdogTimings;
  /** Timings in force on the armed device (a ttl change is applied at the next keepalive). */
  #activeTimings: WatchdogTimings;
  #device: WatchdogDevice | null;
  /** Activation failed: like Patroni, do not retry (and spam the log) until the configuration changes. */
  #broken = false;

  constructor(
    readonly settings: WatchdogSettings,
    timings: WatchdogTimings,
    readonly log: Logger,
    makeDevice: (s: WatchdogSettings) => WatchdogDevice = createWatchdogDevice,
  ) {
    this.#timings = { ...timings };
    this.#activeTimings = { ...timings };
    this.#device = settings.mode === "off" ? null : makeDevice(settings);
  }

  /** Seconds the device waits for a keepalive. */
  timeoutFor(t: WatchdogTimings = this.#timings): number {
    return this.settings.safetyMargin === -1 ? Math.floor(t.ttl / 2) : t.ttl - this.settings.safetyMargin;
  }

  get timeout(): number {
    return this.timeoutFor();
  }

  /** Time left for one cycle beyond loop_wait; negative means the watchdog cannot be used safely. */
  get timingSlack(): number {
    return this.timeout - this.#timings.loopWait;
  }

  /** The device is open (armed). */
  get isRunning(): boolean {
    return this.#device?.isOpen === true;
  }

  /** New ttl/loop_wait from the dynamic configuration. */
  updateTimings(t: WatchdogTimings): void {
    if (t.ttl === this.#timings.ttl && t.loopWait === this.#timings.loopWait) return;
    this.#timings = { ...t };
    // Changed timings may make a broken (unsafe) setup usable again.
    if (!this.isRunning) {
      this.#broken = false;
      this.#activeTimings = { ...t };
    }
  }

  /**
   * Whether this node may lead as far as the watchdog is concerned (Patroni is_healthy): always outside
   * `required`; in `required`, the timing is safe, activation did not fail and the device is there.
   */
  async isHealthy(): Promise<boolean> {
    if (this.settings.mode !== "required") return true;
    if (this.timingSlack < 0 || this.#broken) return false;
    if (this.isRunning) return true;
    try {
      await Deno.stat(this.settings.device);
      return true;
    } catch {
      return false;
    }
  }

  /** Arm the device. False only in `required` mode when no safe watchdog could be armed. */
  async activate(): Promise<boolean> {
    const required = this.settings.mode === "required";
    const dev = this.#device;
    if (!dev) return true;
    if (dev.isOpen) return true;
    if (this.#broken) return !required;
    this.#activeTimings = { ...this.#timings };
    if (this.timingSlack < 0) {
      this.log.warn(
        `Watchdog not supported because leader TTL ${this.#timings.ttl} is less than 2x loop_wait ` +
          `${this.#timings.loopWait}`,
      );
      this.#broken = true;
      return !required;
    }
    try {
      await dev.open();
    } catch (e) {
      this.log.warn(`Could not activate ${dev.describe()}: ${e instanceof Error ? e.message : String(e)}`);
      this.#broken = true;
      if (required) this.log.error("Configuration requires watchdog, but watchdog could not be configured.");
      return !required;
    }
    let actual: number | null = null;
    try {
      if (!dev.canBeDisabled) {
        this.log.warn(
          "Watchdog implementation can't be disabled. Watchdog will trigger after pgwarden loses leader key.",
        );
      }
      if (dev.canSetTimeout) await dev.setTimeout(this.timeout);
      actual = await dev.getTimeout();
      if (actual < this.#timings.loopWait) {
        this.log.error(
          `loop_wait of ${this.#timings.loopWait} seconds is too long for watchdog ${actual} second timeout`,
        );
        if (dev.canBeDisabled) {
          this.log.info("Disabling watchdog due to unsafe timeout.");
          await dev.close();
          this.#broken = true;
          actual = null;
        }
      }
    } catch (e) {
      this.log.warn(`Could not configure ${dev.describe()}: ${e instanceof Error ? e.message : String(e)}`);
      await Promise.resolve(dev.close()).catch(() => {});
      this.#broken = true;
      actual = null;
    }
    if (!dev.isOpen || actual === null || actual > this.timeout) {
      if (required) {
        this.log.error(
          dev.isOpen
            ? `Configuration requires watchdog, but a safe watchdog timeout ${this.timeout} could not be ` +
              `configured. Watchdog timeout is ${actual}.`
            : "Configuration requires watchdog, but watchdog could not be configured.",
        );
        if (dev.isOpen) await this.disable();
        this.#broken = true;
        return false;
      }
      if (dev.isOpen) {
        this.log.warn(
          `Watchdog timeout ${actual} seconds does not ensure safe termination within ${this.timeout} seconds`,
        );
      }
    }
    if (dev.isOpen) {
      this.log.info(
        `${dev.describe()} activated with ${actual} second timeout, timing slack ${this.timingSlack} seconds`,
      );
    }
    return true;
  }

  /** Reset the timer; applies a changed timeout (ttl) to the armed device. */
  async keepalive(): Promise<void> {
    const dev = this.#device;
    if (!dev?.isOpen) return;
    try {
      await dev.keepalive();
      const want = this.timeoutFor(this.#timings);
      if (want !== this.timeoutFor(this.#activeTimings)) {
        if (dev.canSetTimeout) await dev.setTimeout(want);
        this.#activeTimings = { ...this.#timings };
      }
    } catch (e) {
      this.log.error(`Error while sending keepalive: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Disarm with the magic close (devices that cannot be disabled get one last keepalive and a warning). */
  async disable(): Promise<void> {
    const dev = this.#device;
    if (!dev?.isOpen) return;
    try {
      if (!dev.canBeDisabled) {
        await dev.keepalive();
        this.log.warn(
          `Watchdog implementation can't be disabled. System will reboot after ${await dev
            .getTimeout()} seconds when watchdog times out.`,
        );
      }
      await dev.close();
      this.log.info(`${dev.describe()} disabled`);
    } catch (e) {
      this.log.error(`Error while disabling watchdog: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
