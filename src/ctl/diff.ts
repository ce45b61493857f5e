/**
 * Unified diff of two texts in the format of Python's `difflib.unified_diff` with empty file names (what
 * patronictl edit-config prints): `--- `, `+++ `, then `@@ -a,b +c,d @@` hunks with 3 lines of context.
 * The alignment is a longest-common-subsequence one, so it may differ from difflib's in ambiguous cases, but it
 * is always a correct diff.
 */

type Tag = "equal" | "replace" | "delete" | "insert";
type Opcode = [Tag, number, number, number, number];

/** Lines of a text, as patronictl splits them (trailing newlines ignored). */
export function lines(text: string): string[] {
  return text.replace(/\n+$/, "").split("\n");
}

/** Opcodes (difflib `get_opcodes` shape) from an LCS table. */
export function opcodes(a: string[], b: string[]): Opcode[] {
  const n = a.length;
  const m = b.length;
  // Common prefix/suffix first: configs usually change in a few places, so the table stays small.
  let pre = 0;
  while (pre < n && pre < m && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < n - pre && suf < m - pre && a[n - 1 - suf] === b[m - 1 - suf]) suf++;
  const a2 = a.slice(pre, n - suf);
  const b2 = b.slice(pre, m - suf);
  const rows = a2.length;
  const cols = b2.length;
  const lcs = new Uint32Array((rows + 1) * (cols + 1));
  const at = (i: number, j: number) => i * (cols + 1) + j;
  for (let i = rows - 1; i >= 0; i--) {
    for (let j = cols - 1; j >= 0; j--) {
      lcs[at(i, j)] = a2[i] === b2[j]
        ? lcs[at(i + 1, j + 1)]! + 1
        : Math.max(lcs[at(i + 1, j)]!, lcs[at(i, j + 1)]!);
    }
  }
  const steps: ("=" | "-" | "+")[] = [];
  let i = 0;
  let j = 0;
  while (i < rows || j < cols) {
    if (i < rows && j < cols && a2[i] === b2[j]) {
      steps.push("=");
      i++;
      j++;
    } else if (j >= cols || (i < rows && lcs[at(i + 1, j)]! >= lcs[at(i, j + 1)]!)) {
      steps.push("-");
      i++;
    } else {
      steps.push("+");
      j++;
    }
  }
  const codes: Opcode[] = [];
  if (pre) codes.push(["equal", 0, pre, 0, pre]);
  let ai = pre;
  let bj = pre;
  let k = 0;
  while (k < steps.length) {
    if (steps[k] === "=") {
      const [i1, j1] = [ai, bj];
      while (k < steps.length && steps[k] === "=") {
        ai++;
        bj++;
        k++;
      }
      codes.push(["equal", i1, ai, j1, bj]);
      continue;
    }
    const [i1, j1] = [ai, bj];
    while (k < steps.length && steps[k] !== "=") {
      if (steps[k] === "-") ai++;
      else bj++;
      k++;
    }
    const tag: Tag = ai > i1 && bj > j1 ? "replace" : ai > i1 ? "delete" : "insert";
    codes.push([tag, i1, ai, j1, bj]);
  }
  if (suf) codes.push(["equal", n - suf, n, m - suf, m]);
  // Merge adjacent equal runs (prefix next to an equal run from the table).
  return codes.reduce<Opcode[]>((acc, c) => {
    const last = acc[acc.length - 1];
    if (last && last[0] === "equal" && c[0] === "equal") last[2] = c[2], last[4] = c[4];
    else acc.push([...c]);
    return acc;
  }, []);
}

/** difflib `get_grouped_opcodes`: hunks with `n` lines of context. */
function grouped(codes: Opcode[], n: number): Opcode[][] {
  const c = codes.length ? codes.map((x) => [...x] as Opcode) : [["equal", 0, 1, 0, 1] as Opcode];
  const first = c[0]!;
  if (first[0] === "equal") {
    c[0] = ["equal", Math.max(first[1], first[2] - n), first[2], Math.max(first[3], first[4] - n), first[4]];
  }
  const last = c[c.length - 1]!;
  if (last[0] === "equal") {
    c[c.length - 1] = [
      "equal",
      last[1],
      Math.min(last[2], last[1] + n),
      last[3],
      Math.min(last[4], last[3] + n),
    ];
  }
  const groups: Opcode[][] = [];
  let group: Opcode[] = [];
  for (let [tag, i1, i2, j1, j2] of c) {
    if (tag === "equal" && i2 - i1 > 2 * n) {
      group.push([tag, i1, Math.min(i2, i1 + n), j1, Math.min(j2, j1 + n)]);
      groups.push(group);
      group = [];
      i1 = Math.max(i1, i2 - n);
      j1 = Math.max(j1, j2 - n);
    }
    group.push([tag, i1, i2, j1, j2]);
  }
  if (group.length && !(group.length === 1 && group[0]![0] === "equal")) groups.push(group);
  return groups;
}

function range(start: number, stop: number): string {
  let begin = start + 1;
  const len = stop - start;
  if (len === 1) return String(begin);
  if (len === 0) begin -= 1;
  return `${begin},${len}`;
}

/** The unified diff lines (no trailing newlines); empty when the texts are equal. */
export function unifiedDiff(before: string, after: string, context = 3): string[] {
  const a = lines(before);
  const b = lines(after);
  const out: string[] = [];
  for (const g of grouped(opcodes(a, b), context)) {
    if (!out.length) out.push("--- ", "+++ ");
    const f = g[0]!;
    const l = g[g.length - 1]!;
    out.push(`@@ -${range(f[1], l[2])} +${range(f[3], l[4])} @@`);
    for (const [tag, i1, i2, j1, j2] of g) {
      if (tag === "equal") {
        for (const x of a.slice(i1, i2)) out.push(" " + x);
        continue;
      }
      if (tag === "replace" || tag === "delete") { for (const x of a.slice(i1, i2)) out.push("-" + x); }
      if (tag === "replace" || tag === "insert") { for (const x of b.slice(j1, j2)) out.push("+" + x); }
    }
  }
  return out;
}

/** Colour a diff for a terminal: red removals, green additions, cyan hunk headers. */
export function colorDiff(diff: string[]): string[] {
  return diff.map((l) =>
    l.startsWith("@@")
      ? `\x1b[36m${l}\x1b[0m`
      : l.startsWith("-") && !l.startsWith("--- ")
      ? `\x1b[31m${l}\x1b[0m`
      : l.startsWith("+") && !l.startsWith("+++ ")
      ? `\x1b[32m${l}\x1b[0m`
      : l
  );
}
