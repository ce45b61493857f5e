/**
 * The Linux watchdog device (`/dev/watchdog`) through libc over Deno FFI: `open(2)`, `ioctl(2)` with
 * WDIOC_GETSUPPORT / WDIOC_SETTIMEOUT / WDIOC_GETTIMEOUT / WDIOC_KEEPALIVE, `write(2)` of the magic close
 * character `V`, `close(2)`. Deno exposes no raw file descriptors, so every step goes through libc.
 *
 * Only libc is opened, and only by one of the paths in `LIBC_CANDIDATES`: the launcher grants `--allow-ffi` for
 * exactly those paths (see `src/config/permissions.ts`). errno is copied out with `memcpy` because reading
 * through a raw pointer would need unrestricted FFI permission.
 */
/** A watchdog device could not be opened, configured, kept alive or closed. */
export class WatchdogError extends Error {
  override name = "WatchdogError";
}

/** Where libc lives on the distributions we know; the first that opens is used. */
export function libcCandidates(arch: string = Deno.build.arch): string[] {
  const triplet = arch === "aarch64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return [
    `/lib/${triplet}/libc.so.6`,
    `/usr/lib/${triplet}/libc.so.6`,
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
    "/lib/libc.so.6",
    "/usr/lib/libc.so.6",
  ];
}

// linux/ioctl.h for the generic layout (x86_64 and aarch64, the only architectures Deno ships for).
const IOC_WRITE = 1;
const IOC_READ = 2;
function ioc(dir: number, type: string, nr: number, size: number): bigint {
  return BigInt(((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0);
}
/** struct watchdog_info: u32 options, u32 firmware_version, u8 identity[32]. */
const WATCHDOG_INFO_SIZE = 40;
export const WDIOC_GETSUPPORT = ioc(IOC_READ, "W", 0, WATCHDOG_INFO_SIZE);
export const WDIOC_KEEPALIVE = ioc(IOC_READ, "W", 5, 4);
export const WDIOC_SETTIMEOUT = ioc(IOC_READ | IOC_WRITE, "W", 6, 4);
export const WDIOC_GETTIMEOUT = ioc(IOC_READ, "W", 7, 4);
export const WDIOF_SETTIMEOUT = 0x0080;
export const WDIOF_MAGICCLOSE = 0x0100;

const O_WRONLY = 1;
const O_CLOEXEC = 0o2000000;
const ENOTTY = 25;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32", nonblocking: true },
  close: { parameters: ["i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let libc: { lib: Deno.DynamicLibrary<typeof SYMBOLS>; path: string } | null = null;

/** Open libc once; throws WatchdogError naming every path tried when none opens. */
export function openLibc(candidates = libcCandidates()): Libc {
  if (libc) return libc.lib.symbols;
  const errors: string[] = [];
  for (const path of candidates) {
    try {
      libc = { lib: Deno.dlopen(path, SYMBOLS), path };
      return libc.lib.symbols;
    } catch (e) {
      errors.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new WatchdogError(`Cannot load libc for the watchdog ioctls (${errors.join("; ")})`);
}

function errno(c: Libc): number {
  const out = new Int32Array(1);
  c.memcpy(new Uint8Array(out.buffer), c.__errno_location(), 4n);
  return out[0]!;
}

/** The errno values a watchdog device gives in practice (reading strerror's text would need raw pointers). */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  9: "EBADF",
  13: "EACCES",
  16: "EBUSY",
  19: "ENODEV",
  22: "EINVAL",
  25: "ENOTTY",
  95: "EOPNOTSUPP",
};

function errnoText(code: number): string {
  return `${ERRNO_NAMES[code] ?? "error"} (errno ${code})`;
}

/** An open watchdog device. */
export class LinuxWatchdogDevice {
  #fd: number | null = null;
  #support: { options: number; firmware: number; identity: string } | null = null;

  constructor(readonly device: string, readonly libcPaths = libcCandidates()) {}

  /**
   * Load libc ahead of need: the first dlopen costs tens of milliseconds, which arming at promotion time
   * would add between taking the leader lock and promoting. Failures surface later, from `open()`.
   */
  preload(): void {
    try {
      openLibc(this.libcPaths);
    } catch { /* reported by open() */ }
  }

  get isOpen(): boolean {
    return this.#fd !== null;
  }

  /** Open for writing (this starts the watchdog timer). Gives up after `timeoutMs` (a FIFO without reader). */
  async open(timeoutMs = 5000): Promise<void> {
    const c = openLibc(this.libcPaths);
    const path = new TextEncoder().encode(this.device + "\0");
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const pending = c.open(path, O_WRONLY | O_CLOEXEC);
    const fd = await Promise.race([
      pending,
      new Promise<number>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          resolve(-2);
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      // Close it if the open completes later, so the device is not left armed by nobody.
      pending.then((late) => late >= 0 && c.close(late)).catch(() => {});
      throw new WatchdogError(`Can't open watchdog device: ${this.device}: no answer within ${timeoutMs} ms`);
    }
    if (fd < 0) {
      // errno belongs to the thread that ran open(2); say what can be told from here instead.
      let why = "open(2) failed";
      try {
        await Deno.stat(this.device);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) why = "no such file";
      }
      throw new WatchdogError(`Can't open watchdog device: ${this.device}: ${why}`);
    }
    this.#fd = fd;
  }

  #ioctl(request: bigint, arg: Uint8Array): number {
    const c = openLibc(this.libcPaths);
    if (this.#fd === null) throw new WatchdogError("Watchdog device is closed");
    if (c.ioctl(this.#fd, request, arg) < 0) return errno(c);
    return 0;
  }

  support(): { options: number; firmware: number; identity: string } {
    if (this.#support) return this.#support;
    const buf = new Uint8Array(WATCHDOG_INFO_SIZE);
    const err = this.#ioctl(WDIOC_GETSUPPORT, buf);
    if (err) {
      throw new WatchdogError(
        `Could not get information about watchdog device: ${errnoText(err)}`,
      );
    }
    const v = new DataView(buf.buffer);
    const id = buf.subarray(8);
    const end = id.indexOf(0);
    this.#support = {
      options: v.getUint32(0, true),
      firmware: v.getUint32(4, true),
      identity: new TextDecoder().decode(id.subarray(0, end < 0 ? id.length : end)),
    };
    return this.#support;
  }

  get canSetTimeout(): boolean {
    return (this.support().options & WDIOF_SETTIMEOUT) !== 0;
  }

  get canBeDisabled(): boolean {
    return (this.support().options & WDIOF_MAGICCLOSE) !== 0;
  }

  setTimeout(seconds: number): void {
    const s = Math.trunc(seconds);
    if (!(s > 0 && s < 0xffff)) {
      throw new WatchdogError(`Invalid timeout ${s}. Supported values are between 1 and 65535`);
    }
    const arg = new Int32Array([s]);
    const err = this.#ioctl(WDIOC_SETTIMEOUT, new Uint8Array(arg.buffer));
    if (err) {
      throw new WatchdogError(
        `Could not set timeout on watchdog device: ${errnoText(err)}`,
      );
    }
  }

  getTimeout(): number {
    const arg = new Int32Array(1);
    const err = this.#ioctl(WDIOC_GETTIMEOUT, new Uint8Array(arg.buffer));
    if (err) {
      throw new WatchdogError(
        `Could not get timeout on watchdog device: ${errnoText(err)}`,
      );
    }
    return arg[0]!;
  }

  keepalive(): void {
    const arg = new Int32Array(1);
    const err = this.#ioctl(WDIOC_KEEPALIVE, new Uint8Array(arg.buffer));
    if (err === 0) return;
    // Drivers without the ioctl still take a write as a keepalive.
    if (err === ENOTTY) return this.#write("1");
    throw new WatchdogError(
      `Could not send watchdog keepalive: ${errnoText(err)}`,
    );
  }

  #write(s: string): void {
    const c = openLibc(this.libcPaths);
    if (this.#fd === null) throw new WatchdogError("Watchdog device is closed");
    const buf = new TextEncoder().encode(s);
    if (Number(c.write(this.#fd, buf, BigInt(buf.length))) !== buf.length) {
      throw new WatchdogError(`Could not write to ${this.device}: ${errnoText(errno(c))}`);
    }
  }

  /** Magic close: write `V`, then close, which stops the timer on devices that support it. */
  close(): void {
    if (this.#fd === null) return;
    const c = openLibc(this.libcPaths);
    try {
      this.#write("V");
    } finally {
      c.close(this.#fd);
      this.#fd = null;
    }
  }

  describe(): string {
    let identity = "Linux watchdog device";
    let version = "";
    if (this.#fd !== null) {
      try {
        const s = this.support();
        identity = s.identity || identity;
        if (s.firmware) version = ` (firmware ${s.firmware})`;
      } catch { /* keep the generic name */ }
    }
    return identity + version + (this.device !== "/dev/watchdog" ? ` at ${this.device}` : "");
  }
}
