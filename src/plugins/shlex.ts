/** POSIX-shell-like word splitting (Python `shlex.split` semantics, which Patroni uses for commands). */
export class ShlexError extends Error {
  override name = "ShlexError";
}

export function shellSplit(s: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new ShlexError(`No closing quotation in ${JSON.stringify(s)}`);
      cur += s.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      inWord = true;
      for (i++;; i++) {
        if (i >= s.length) throw new ShlexError(`No closing quotation in ${JSON.stringify(s)}`);
        const d = s[i]!;
        if (d === '"') break;
        // Inside double quotes a backslash escapes only these.
        if (d === "\\" && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1]!)) cur += s[++i];
        else cur += d;
      }
    } else if (c === "\\") {
      if (i + 1 >= s.length) throw new ShlexError(`No escaped character in ${JSON.stringify(s)}`);
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}
