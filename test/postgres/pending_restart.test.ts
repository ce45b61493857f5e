/** PendingRestartReader: pg_settings is scanned again only after the configuration was (re)loaded. */
import assert from "node:assert/strict";
import { type ObservedRow, PendingRestartReader, type Sql } from "../../src/postgres/queries.ts";

/** A fake pool whose sessions answer the pending query with `session.loaded` and `session.pending`. */
function fakeSql(session: { loaded: string; pending: unknown[] }) {
  let calls = 0;
  const sql = {
    unsafe: () => {
      calls++;
      const [start, load] = session.loaded.split(" ");
      return Promise.resolve([{
        postmaster_start_time: start,
        conf_load_time: load,
        pending: JSON.stringify(session.pending),
      }]);
    },
  } as unknown as Sql;
  return { sql, calls: () => calls };
}

/** An observation whose session reports "<postmaster start> <config load>". */
const row = (loaded: string) => {
  const [postmasterStartTime, confLoadTime] = loaded.split(" ");
  return { postmasterStartTime, confLoadTime } as ObservedRow;
};

Deno.test("pending restart: read once per configuration load, again after a reload or restart", async () => {
  const session = { loaded: "start1 load1", pending: [] as unknown[] };
  const { sql, calls } = fakeSql(session);
  const r = new PendingRestartReader();
  assert.deepEqual(await r.read(sql, row("start1 load1")), {});
  assert.deepEqual(await r.read(sql, row("start1 load1")), {});
  assert.equal(calls(), 1, "the second cycle reuses the reading");

  session.loaded = "start1 load2";
  session.pending = [{ name: "shared_buffers", old_value: "128MB", new_value: "64MB" }];
  assert.deepEqual(await r.read(sql, row("start1 load2")), {
    shared_buffers: { old_value: "128MB", new_value: "64MB" },
  });
  assert.equal(calls(), 2, "a reload is read");

  session.loaded = "start2 load3";
  session.pending = [];
  assert.deepEqual(await r.read(sql, row("start2 load3")), {}, "a restart is read");
  assert.equal(calls(), 3);
});

Deno.test("pending restart: a reading is keyed by the session that produced it, never by the observing one", async () => {
  // The observation came from a session that already reloaded; the pending query landed on one that has not.
  const session = { loaded: "start1 load1", pending: [] as unknown[] };
  const { sql, calls } = fakeSql(session);
  const r = new PendingRestartReader();
  assert.deepEqual(await r.read(sql, row("start1 load2")), {});
  // Next cycle: still "load2" observed, the stale reading (keyed load1) is not reused.
  session.loaded = "start1 load2";
  session.pending = [{ name: "max_connections", old_value: "100", new_value: "150" }];
  assert.deepEqual(Object.keys(await r.read(sql, row("start1 load2"))), ["max_connections"]);
  assert.equal(calls(), 2);
});
