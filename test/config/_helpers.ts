/** Shared by the config tests: a valid base config in both spellings and an issue collector. */
import { ConfigError, formatIssue } from "../../src/config/errors.ts";
import type { ConfigInput } from "../../src/config/schema.ts";

/** A minimal valid Patroni YAML document; cases append or replace sections. */
export const BASE_YAML = `
scope: demo
name: node1
etcd3:
  hosts: 127.0.0.1:2379
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: /var/lib/pgwarden/node1
`;

export function baseObject(): ConfigInput {
  return {
    name: "node1",
    scope: "demo",
    etcd3: { hosts: ["127.0.0.1:2379"] },
    restapi: { listen: "127.0.0.1:8008", connectAddress: "127.0.0.1:8008" },
    postgresql: {
      listen: "127.0.0.1:5432",
      connectAddress: "127.0.0.1:5432",
      dataDir: "/var/lib/pgwarden/node1",
    },
  };
}

/** The formatted issues `f` throws as a ConfigError; fails when it succeeds or throws something else. */
export async function issuesOf(f: () => unknown): Promise<string[]> {
  try {
    await f();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(formatIssue);
    throw e;
  }
  throw new Error("expected a ConfigError, but the config was accepted");
}

/** The deno binary running the tests, for subprocesses. */
export const DENO = Deno.execPath();
export const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
