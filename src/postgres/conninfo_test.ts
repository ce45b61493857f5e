import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { connUrl, formatConninfo, parseConninfo, renderPgpass, upstreamOf } from "./conninfo.ts";

Deno.test("formatConninfo quotes only values that need it and skips empty ones", () => {
  assertEquals(
    formatConninfo({ host: "h", port: 5432, user: undefined, password: "a b'c\\", dbname: "" }),
    "host=h port=5432 password='a b\\'c\\\\'",
  );
});

Deno.test("parseConninfo reads what formatConninfo writes", () => {
  const params = { host: "db-1", port: "5433", password: "x y'z\\", application_name: "n1" };
  assertEquals(parseConninfo(formatConninfo(params)), params);
  assertEquals(parseConninfo("  host = a  port=1 "), { host: "a", port: "1" });
});

Deno.test("upstreamOf takes the first host and defaults the port", () => {
  assertEquals(upstreamOf("user=r host=10.0.0.1 port=5433"), "10.0.0.1:5433");
  assertEquals(upstreamOf("host=a,b port=1,2"), "a:1");
  assertEquals(upstreamOf("host=a"), "a:5432");
  assertEquals(upstreamOf("user=x"), null);
});

Deno.test("renderPgpass escapes separators and keeps wildcards", () => {
  assertEquals(
    renderPgpass([{ user: "u:1", password: "p\\w" }, { host: "h", port: 1, user: "v", password: "*" }]),
    "*:*:*:u\\:1:p\\\\w\nh:1:*:v:*\n",
  );
});

Deno.test("connUrl leaves the password out and brackets IPv6 hosts", () => {
  assertEquals(
    connUrl({ host: "::1", port: 5432, user: "post gres", database: "postgres" }),
    "postgres://post%20gres@[::1]:5432/postgres",
  );
});
