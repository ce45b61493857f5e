/**
 * The watchdog facade against Patroni's testing driver on a real named pipe (the byte stream a test harness
 * reads), and the Linux driver's FFI plumbing against a device that is not a watchdog.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { memoryLogger } from "../../src/agent/log.ts";
import { TestingWatchdogDevice, Watchdog, type WatchdogSettings } from "../../src/agent/watchdog.ts";
import {
  WDIOC_GETSUPPORT,
  WDIOC_GETTIMEOUT,
  WDIOC_KEEPALIVE,
  WDIOC_SETTIMEOUT,
} from "../../src/agent/watchdog_linux.ts";

async function withFifo<T>(fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "pgwarden-wd-" });
  const path = `${dir}/watchdog`;
  try {
    const r = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert(r.success, "mkfifo");
    return await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Everything written to the pipe until the writer closes it. */
async function readAll(path: string): Promise<string> {
  const f = await Deno.open(path, { read: true });
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(256);
  for (;;) {
    const n = await f.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  f.close();
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

const testing = (device: string, extra: Partial<WatchdogSettings> = {}): WatchdogSettings => ({
  mode: "required",
  device,
  safetyMargin: 5,
  driver: "testing",
  ...extra,
});

Deno.test("watchdog testing driver: timeout on open, a keepalive per call, new timeout on ttl change, V on close", async () => {
  await withFifo(async (path) => {
    const reader = readAll(path);
    const log = memoryLogger();
    const wd = new Watchdog(testing(path), { ttl: 30, loopWait: 10 }, log);
    assertEquals(wd.timeout, 25);
    assert(await wd.isHealthy());
    assert(await wd.activate());
    assert(wd.isRunning);
    assert(await wd.activate(), "activating an armed watchdog is a no-op");
    await wd.keepalive();
    wd.updateTimings({ ttl: 20, loopWait: 5 });
    await wd.keepalive();
    await wd.keepalive();
    await wd.disable();
    assertEquals(wd.isRunning, false);
    assertEquals(await reader, "Ctimeout=25\n11Ctimeout=15\n1V");
    assert(log.lines.some((l) => l.includes("activated with 25 second timeout, timing slack 15 seconds")));
  });
});

Deno.test("watchdog: safety_margin -1 means ttl // 2; off never opens anything", async () => {
  await withFifo(async (path) => {
    const reader = readAll(path);
    const wd = new Watchdog(testing(path, { safetyMargin: -1 }), { ttl: 31, loopWait: 5 }, memoryLogger());
    assert(await wd.activate());
    await wd.disable();
    assertEquals(await reader, "Ctimeout=15\nV");
  });
  const off = new Watchdog(
    testing("/nonexistent/wd", { mode: "off" }),
    { ttl: 30, loopWait: 10 },
    memoryLogger(),
  );
  assert(await off.activate());
  assertEquals(off.isRunning, false);
  assert(await off.isHealthy());
  await off.keepalive();
  await off.disable();
});

Deno.test("watchdog: a missing device fails required mode (and stays failed), automatic carries on", async () => {
  const req = new Watchdog(testing("/nonexistent/wd"), { ttl: 30, loopWait: 10 }, memoryLogger());
  assertEquals(await req.isHealthy(), false);
  assertEquals(await req.activate(), false);
  assertEquals(await req.isHealthy(), false);
  const auto = new Watchdog(
    testing("/nonexistent/wd", { mode: "automatic" }),
    { ttl: 30, loopWait: 10 },
    memoryLogger(),
  );
  assert(await auto.isHealthy());
  assert(await auto.activate());
  assertEquals(auto.isRunning, false);
});

Deno.test("watchdog: timeout below loop_wait is unusable in required mode, until the timings change", async () => {
  await withFifo(async (path) => {
    const wd = new Watchdog(testing(path), { ttl: 12, loopWait: 10 }, memoryLogger());
    assertEquals(wd.timingSlack, -3);
    assertEquals(await wd.isHealthy(), false);
    assertEquals(await wd.activate(), false);
    assertEquals(wd.isRunning, false);
    wd.updateTimings({ ttl: 30, loopWait: 10 });
    assert(await wd.isHealthy());
  });
});

Deno.test("watchdog: a pipe nobody reads does not hang activation", async () => {
  await withFifo(async (path) => {
    const wd = new Watchdog(
      testing(path),
      { ttl: 30, loopWait: 10 },
      memoryLogger(),
      (s) => new TestingWatchdogDevice(s.device, 200),
    );
    const t0 = Date.now();
    assertEquals(await wd.activate(), false);
    assert(Date.now() - t0 < 3000);
  });
});

Deno.test("watchdog linux driver: ioctl numbers match linux/watchdog.h", () => {
  assertEquals(WDIOC_GETSUPPORT, 0x80285700n);
  assertEquals(WDIOC_KEEPALIVE, 0x80045705n);
  assertEquals(WDIOC_SETTIMEOUT, 0xc0045706n);
  assertEquals(WDIOC_GETTIMEOUT, 0x80045707n);
});

Deno.test("watchdog linux driver: a device without watchdog ioctls is refused through FFI", async () => {
  const settings: WatchdogSettings = {
    mode: "required",
    device: "/dev/null",
    safetyMargin: 5,
    driver: "default",
  };
  const log = memoryLogger();
  const wd = new Watchdog(settings, { ttl: 30, loopWait: 10 }, log);
  assertEquals(await wd.activate(), false);
  assertEquals(wd.isRunning, false);
  assert(log.lines.some((l) => l.includes("ENOTTY")), log.lines.join("\n"));
  const auto = new Watchdog({ ...settings, mode: "automatic" }, { ttl: 30, loopWait: 10 }, memoryLogger());
  assert(await auto.activate());
  assertEquals(auto.isRunning, false);
});
