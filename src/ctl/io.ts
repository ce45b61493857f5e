/**
 * Terminal I/O of the ctl behind a small interface, so commands run the same against the real terminal and in
 * tests (scripted stdin, captured stdout/stderr). Prompts behave like click's, which patronictl uses:
 * `Question [default]: `, an empty answer takes the default, `[y/N]` confirmations.
 */

export interface CtlIo {
  /** Write raw text to stdout. */
  write(text: string): void;
  /** Write raw text to stderr (progress, warnings). */
  writeErr(text: string): void;
  /** One line from stdin without its newline; null at end of input. */
  readLine(): Promise<string | null>;
  /** The rest of stdin. */
  readAll(): Promise<string>;
  readonly stdoutIsTty: boolean;
}

/** The user closed stdin while a question was open (click: `Aborted!`). */
export class PromptAborted extends Error {
  override name = "PromptAborted";
  constructor() {
    super("Aborted!");
  }
}

export function echo(io: CtlIo, line = ""): void {
  io.write(line + "\n");
}

export function warn(io: CtlIo, line: string): void {
  io.writeErr(line + "\n");
}

/**
 * Ask for a value. With a default, an empty answer returns it (shown as `[default]`); without one the
 * question repeats until something is typed.
 */
export async function prompt(io: CtlIo, text: string, opts: { default?: string } = {}): Promise<string> {
  for (;;) {
    io.write(opts.default !== undefined ? `${text} [${opts.default}]: ` : `${text}: `);
    const line = await io.readLine();
    if (line === null) {
      io.write("\n");
      throw new PromptAborted();
    }
    const v = line.trim();
    if (v !== "") return v;
    if (opts.default !== undefined) return opts.default;
  }
}

/** A yes/no question, default no. */
export async function confirm(io: CtlIo, text: string): Promise<boolean> {
  for (;;) {
    io.write(`${text} [y/N]: `);
    const line = await io.readLine();
    if (line === null) {
      io.write("\n");
      throw new PromptAborted();
    }
    const v = line.trim().toLowerCase();
    if (v === "y" || v === "yes") return true;
    if (v === "" || v === "n" || v === "no") return false;
    io.write("Error: invalid input\n");
  }
}

const encoder = new TextEncoder();

function writeAll(w: { writeSync(p: Uint8Array): number }, text: string) {
  let buf = encoder.encode(text);
  while (buf.length) buf = buf.subarray(w.writeSync(buf));
}

/** The process's terminal. Stdin is read lazily, so commands that never ask never touch it. */
export function denoIo(): CtlIo {
  let reader: ReadableStreamDefaultReader<string> | null = null;
  let buffer = "";
  let eof = false;
  const fill = async (): Promise<boolean> => {
    if (eof) return false;
    reader ??= Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
    const r = await reader.read();
    if (r.done) {
      eof = true;
      return false;
    }
    buffer += r.value;
    return true;
  };
  return {
    write: (t) => writeAll(Deno.stdout, t),
    writeErr: (t) => writeAll(Deno.stderr, t),
    async readLine() {
      for (;;) {
        const nl = buffer.indexOf("\n");
        if (nl >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, "");
          buffer = buffer.slice(nl + 1);
          return line;
        }
        if (!(await fill())) {
          if (!buffer) return null;
          const line = buffer;
          buffer = "";
          return line;
        }
      }
    },
    async readAll() {
      while (await fill()) { /* read to the end */ }
      const all = buffer;
      buffer = "";
      return all;
    },
    get stdoutIsTty() {
      return Deno.stdout.isTerminal();
    },
  };
}

/** Scripted I/O for tests: `input` is stdin; everything written is collected. */
export class BufferIo implements CtlIo {
  out = "";
  err = "";
  #input: string;
  stdoutIsTty = false;
  constructor(input = "") {
    this.#input = input;
  }
  write(t: string) {
    this.out += t;
  }
  writeErr(t: string) {
    this.err += t;
  }
  readLine(): Promise<string | null> {
    if (!this.#input) return Promise.resolve(null);
    const nl = this.#input.indexOf("\n");
    const line = nl < 0 ? this.#input : this.#input.slice(0, nl);
    this.#input = nl < 0 ? "" : this.#input.slice(nl + 1);
    return Promise.resolve(line);
  }
  readAll(): Promise<string> {
    const all = this.#input;
    this.#input = "";
    return Promise.resolve(all);
  }
}
