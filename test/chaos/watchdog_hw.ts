/**
 * The machine a member runs on, as far as its watchdog goes: reads the agent's `testing` watchdog driver on a
 * named pipe (`Ctimeout=<n>\n` sets the timeout, `1` is a keepalive, `V` disarms) and "resets the machine"
 * (calls `reset`) when an armed watchdog misses its timeout. A writer that goes away without `V` leaves the
 * watchdog armed, like closing /dev/watchdog without the magic character.
 */

export class WatchdogHardware {
  #armed = false;
  #timeoutS = 60;
  #last = 0;
  #stopped = false;
  #check: ReturnType<typeof setInterval>;
  #reader: Promise<void>;
  resets = 0;

  constructor(readonly fifo: string, private readonly reset: () => void) {
    this.#check = setInterval(() => {
      if (this.#armed && Date.now() - this.#last > this.#timeoutS * 1000) {
        this.#armed = false;
        this.resets++;
        this.reset();
      }
    }, 100);
    this.#reader = this.#read();
  }

  static async create(fifo: string, reset: () => void, owner?: number): Promise<WatchdogHardware> {
    const out = await new Deno.Command("mkfifo", { args: ["-m", "0600", fifo] }).output();
    if (!out.success) throw new Error(`mkfifo ${fifo} failed: ${new TextDecoder().decode(out.stderr)}`);
    if (owner !== undefined) await Deno.chown(fifo, owner, owner);
    return new WatchdogHardware(fifo, reset);
  }

  get armed(): boolean {
    return this.#armed;
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(256);
    let line = "";
    while (!this.#stopped) {
      let f: Deno.FsFile;
      try {
        f = await Deno.open(this.fifo, { read: true }); // waits for a writer
      } catch {
        return;
      }
      try {
        for (;;) {
          const n = await f.read(buf);
          if (n === null) break;
          for (const ch of new TextDecoder().decode(buf.subarray(0, n))) {
            if (line || ch === "C") {
              if (ch !== "\n") {
                line += ch;
                continue;
              }
              const m = /^Ctimeout=(\d+)$/.exec(line);
              if (m) this.#timeoutS = Number(m[1]);
              line = "";
            } else if (ch === "1") {
              this.#armed = true;
              this.#last = Date.now();
            } else if (ch === "V") this.#armed = false;
          }
        }
      } catch {
        // writer vanished mid-read
      } finally {
        f.close();
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#check);
    // Unblock a reader waiting for a writer.
    try {
      const w = await Deno.open(this.fifo, { write: true });
      w.close();
    } catch { /* gone */ }
    await this.#reader;
  }
}
