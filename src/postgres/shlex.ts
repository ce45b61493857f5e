/**
 * POSIX-shell-like word splitting for user-configured commands (callbacks, post_bootstrap, replica
 * methods), as Patroni does with `shlex.split`: the command runs without a shell.
 */
export function shlexSplit(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) {
        throw new SyntaxError(`Cannot split command: unclosed single quote in ${JSON.stringify(s)}`);
      }
      cur += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) {
          throw new SyntaxError(`Cannot split command: unclosed double quote in ${JSON.stringify(s)}`);
        }
        const d = s[i]!;
        if (d === '"') break;
        if (d === "\\" && i + 1 < s.length && '\\"$`\n'.includes(s[i + 1]!)) {
          cur += s[i + 1];
          i += 2;
          continue;
        }
        cur += d;
        i++;
      }
      inWord = true;
      i++;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
      i++;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}
