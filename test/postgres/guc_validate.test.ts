/** Parameter values checked against pg_settings rows, following PostgreSQL's parsing rules. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  type GucSetting,
  gucValueProblem,
  parameterProblems,
  parseCatalog,
} from "../../src/postgres/guc_validate.ts";

const rows = [
  { name: "work_mem", vartype: "integer", unit: "kB", min_val: "64", max_val: "2147483647", enumvals: null },
  {
    name: "shared_buffers",
    vartype: "integer",
    unit: "8kB",
    min_val: "16",
    max_val: "1073741823",
    enumvals: null,
  },
  {
    name: "statement_timeout",
    vartype: "integer",
    unit: "ms",
    min_val: "0",
    max_val: "2147483647",
    enumvals: null,
  },
  {
    name: "max_connections",
    vartype: "integer",
    unit: null,
    min_val: "1",
    max_val: "262143",
    enumvals: null,
  },
  {
    name: "random_page_cost",
    vartype: "real",
    unit: null,
    min_val: "0",
    max_val: "1.79769e+308",
    enumvals: null,
  },
  { name: "hot_standby_feedback", vartype: "bool", unit: null, min_val: null, max_val: null, enumvals: null },
  {
    name: "log_min_messages",
    vartype: "enum",
    unit: null,
    min_val: null,
    max_val: null,
    enumvals: "{debug5,info,warning,error}",
  },
  { name: "application_name", vartype: "string", unit: null, min_val: null, max_val: null, enumvals: null },
];
const cat = parseCatalog(rows);
const g = (n: string): GucSetting => cat.get(n)!;

Deno.test("guc values: units convert to the setting's unit, bounds apply", () => {
  assertEquals(gucValueProblem(g("work_mem"), "4MB"), null);
  assertEquals(gucValueProblem(g("work_mem"), 4096), null);
  assert(gucValueProblem(g("work_mem"), "32kB")!.includes("outside the valid range"));
  assert(gucValueProblem(g("work_mem"), "4 parsecs")!.includes("valid units"));
  assert(gucValueProblem(g("work_mem"), "lots")!.includes("invalid value"));
  assertEquals(gucValueProblem(g("shared_buffers"), "128MB"), null);
  assert(gucValueProblem(g("shared_buffers"), "64kB")!.includes("outside"));
  assertEquals(gucValueProblem(g("statement_timeout"), "5min"), null);
  assert(gucValueProblem(g("statement_timeout"), "5MB")!.includes("valid units"));
  assertEquals(gucValueProblem(g("max_connections"), "60"), null);
  assert(gucValueProblem(g("max_connections"), 0)!.includes("outside"));
  assertEquals(gucValueProblem(g("random_page_cost"), "1.5"), null);
});

Deno.test("guc values: booleans as parse_bool, enums case-insensitive, strings free", () => {
  for (const v of ["on", "OFF", "tr", "f", "yes", "n", "1", "0", true, false]) {
    assertEquals(gucValueProblem(g("hot_standby_feedback"), v), null, String(v));
  }
  for (const v of ["o", "maybe", "2"]) assert(gucValueProblem(g("hot_standby_feedback"), v), v);
  assertEquals(gucValueProblem(g("log_min_messages"), "WARNING"), null);
  assert(gucValueProblem(g("log_min_messages"), "loud")!.includes("one of: debug5, info, warning, error"));
  assertEquals(gucValueProblem(g("application_name"), "anything at all"), null);
});

Deno.test("guc parameters: unknown names refused unless custom (dotted); wal_keep_* translated", () => {
  assertEquals(
    parameterProblems(
      { work_mem: "8MB", "pg_stat_statements.max": 100, wal_keep_segments: 8, nosuch: 1 },
      cat,
    ),
    ['unrecognized configuration parameter "nosuch"'],
  );
});
