/**
 * Child process for detached.test.ts: starts PostgreSQL through a PostgresManager, reports the postmaster
 * pid on stdout, then idles until it is killed (standing in for an agent that gets SIGKILLed).
 */
import type { Config } from "../../src/config/schema.ts";
import { PostgresManager } from "../../src/postgres/manager.ts";

const config = JSON.parse(Deno.env.get("PGWARDEN_TEST_CONFIG")!) as Config;
const m = new PostgresManager(config);
const ok = await m.start({ role: "primary", timeoutS: 30 });
const s = await m.observe();
console.log(JSON.stringify({ ok, pid: s.pid, accepting: s.accepting }));
setInterval(() => {}, 1000);
