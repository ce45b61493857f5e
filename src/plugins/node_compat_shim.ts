/**
 * Import first in a plugin worker that uses npm packages which probe `process.env`, `os` and the home directory
 * (the AWS SDK reads dozens of variables at load time). Without env permission each probe would throw
 * NotCapable; with this shim an ungranted variable reads as unset. The sandbox is unchanged: the value of a
 * variable that is not granted is still never visible.
 */
import os from "node:os";
import process from "node:process";

const real = process.env;

const attempt = <T>(f: () => T, fallback: T): T => {
  try {
    return f();
  } catch {
    return fallback;
  }
};

// The proxy's target is a plain object: proxy invariant checks consult the target, and must not reach the
// real env (which would throw for the very key being read).
const tolerant = new Proxy({} as Record<string, string | undefined>, {
  get: (_t, key) => (typeof key === "string" ? attempt(() => real[key], undefined) : undefined),
  set: (_t, key, value) => attempt(() => Reflect.set(real, key, value), false),
  deleteProperty: (_t, key) => attempt(() => Reflect.deleteProperty(real, key), false),
  has: (_t, key) => attempt(() => Reflect.has(real, key), false),
  ownKeys: () => attempt(() => Reflect.ownKeys(real), []),
  getOwnPropertyDescriptor: (_t, key) => {
    const value = typeof key === "string" ? attempt(() => real[key], undefined) : undefined;
    return value === undefined ? undefined : { value, writable: true, enumerable: true, configurable: true };
  },
});

Object.defineProperty(process, "env", {
  value: tolerant,
  configurable: true,
  enumerable: true,
  writable: true,
});

// Likewise for probes that need `sys` permission: SDKs look up the user's home directory (for optional config
// files) through these. Unavailable reads as "not there", never as a crash.
for (const name of ["geteuid", "getuid", "getegid", "getgid"] as const) {
  const f = process[name];
  if (typeof f === "function") {
    Object.defineProperty(process, name, {
      value: () => attempt(() => f.call(process), undefined),
      configurable: true,
      writable: true,
    });
  }
}

// Host facts SDKs put in user agents or use as defaults. A home that does not exist: optional config files
// under it are simply absent.
const fallbacks: Record<string, unknown> = {
  homedir: "/nonexistent",
  release: "unknown",
  version: "unknown",
  machine: "unknown",
  hostname: "localhost",
  uptime: 0,
  loadavg: [0, 0, 0],
  totalmem: 0,
  freemem: 0,
  cpus: [],
  networkInterfaces: {},
};
const osTable = os as unknown as Record<string, unknown>;
for (const [name, fallback] of Object.entries(fallbacks)) {
  const f = osTable[name];
  if (typeof f === "function") osTable[name] = (...a: unknown[]) => attempt(() => f.apply(os, a), fallback);
}
