import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { shlexSplit } from "./shlex.ts";

Deno.test("shlexSplit splits on whitespace and honours quotes and escapes", () => {
  assertEquals(shlexSplit("  a b\tc  "), ["a", "b", "c"]);
  assertEquals(shlexSplit(`sh -c 'echo "hi there"'`), ["sh", "-c", `echo "hi there"`]);
  assertEquals(shlexSplit(`a "b \\"c\\" d" e\\ f`), ["a", `b "c" d`, "e f"]);
  assertEquals(shlexSplit(`x''y ""`), ["xy", ""]);
  assertEquals(shlexSplit(""), []);
});

Deno.test("shlexSplit rejects unclosed quotes", () => {
  assertThrows(() => shlexSplit(`a 'b`), SyntaxError);
  assertThrows(() => shlexSplit(`a "b`), SyntaxError);
});
