/** Shared by ctl commands: print a ConfigError's issues one per line on stderr and exit 2. */
import { ConfigError, formatIssue } from "../config/errors.ts";

export async function exitOnConfigError<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const issue of e.issues) console.error(formatIssue(issue));
    Deno.exit(2);
  }
}
