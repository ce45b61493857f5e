/**
 * Headless Chromium (Debian's `chromium` package) driven by playwright-core, for tests that look at a page
 * the way a person would. `chromiumUnavailable()` installs the package when we are root and it is missing,
 * and otherwise says why the browser tests cannot run, so they are ignored with a printed reason.
 */
import { type BrowserContext, chromium } from "playwright-core";
import { debianBinaryUnavailable } from "./apt.ts";

export const CHROMIUM = "/usr/bin/chromium";

/** No network of its own (updates, sync, QUIC), no GPU, no sandbox (we run as root in a container). */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Null when Chromium can be used; else the reason (after trying to install it when root). */
export function chromiumUnavailable(): Promise<string | null> {
  return debianBinaryUnavailable(CHROMIUM, "chromium");
}

export interface Browser {
  context: BrowserContext;
  /** Close the browser and remove its profile. */
  close(): Promise<void>;
}

/** A fresh browser with its own throw-away profile (`--user-data-dir`). */
export async function launchChromium(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "pgwarden-chromium-" });
  try {
    // Playwright passes the profile as --user-data-dir itself (it refuses the flag in `args`).
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 900 },
    });
    return {
      context,
      async close() {
        await context.close().catch(() => {});
        await Deno.remove(profile, { recursive: true }).catch(() => {});
      },
    };
  } catch (e) {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw e;
  }
}
