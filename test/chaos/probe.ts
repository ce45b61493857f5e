/**
 * Client-side observers for the chaos run, talking to each member's PostgreSQL over its Unix socket (so a
 * member cut from the network is still observed):
 *
 * - the prober asks every member every `intervalMs` whether it accepts writes;
 * - the writer commits increasing ids through whichever member accepts them and records each acknowledged id.
 *
 * "Accepting writes at probe instant k": at instant k the prober sends `INSERT INTO chaos_probe` to every
 * member at once; a member accepts at k when that insert is acknowledged as committed (within `timeoutMs`).
 * A read-only error, a connection error, a timeout (e.g. a commit stuck waiting for a synchronous standby)
 * or a probe still in flight from an earlier instant all count as not accepting. Two members acknowledging
 * the probe of the same instant is a split brain.
 *
 * A timed-out statement is abandoned by closing its connection, never by cancelling it: a cancelled
 * synchronous-commit wait returns success with a warning, which would count an unreplicated write as acked.
 */
import type postgres from "postgres";
import type { TestNode } from "../helpers/cluster.ts";

type Sql = ReturnType<typeof postgres>;

class TimeoutError extends Error {}

/** One member's connection; replaced after a timeout or connection error. */
class Channel {
  #sql: Sql | null = null;
  constructor(readonly node: TestNode) {}

  /** Run `q` with a deadline; false on any failure. */
  async run(q: (sql: Sql) => Promise<unknown>, timeoutMs: number): Promise<boolean> {
    const sql = this.#sql ??= this.node.sql({ socket: true, timeoutS: 1 });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const query = q(sql);
    // Once abandoned, the statement's late failure (connection closed) must not surface as unhandled.
    query.catch(() => {});
    try {
      await Promise.race([
        query,
        new Promise((_, reject) => timer = setTimeout(() => reject(new TimeoutError()), timeoutMs)),
      ]);
      return true;
    } catch (e) {
      if (e instanceof TimeoutError || (e as { code?: string }).code !== "25006") this.reset();
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  reset(): void {
    const sql = this.#sql;
    this.#sql = null;
    sql?.end({ timeout: 0 }).catch(() => {});
  }
}

export interface SplitBrain {
  instant: number;
  at: string;
  nodes: string[];
}

export class Prober {
  readonly splitBrains: SplitBrain[] = [];
  instants = 0;
  /** Instants at which exactly one member accepted. */
  writableInstants = 0;
  #channels: Channel[];
  #busy = new Set<string>();
  #accepted = new Map<number, { at: number; nodes: Set<string>; open: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(nodes: TestNode[], readonly intervalMs = 50, readonly timeoutMs = 1000) {
    this.#channels = nodes.map((n) => new Channel(n));
  }

  start(): void {
    this.#timer = setInterval(() => this.#tick(), this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    while (this.#busy.size) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.#channels) c.reset();
  }

  #tick(): void {
    const k = this.instants++;
    const at = Date.now();
    const rec = { at, nodes: new Set<string>(), open: 0 };
    this.#accepted.set(k, rec);
    for (const c of this.#channels) {
      const name = c.node.name;
      if (this.#busy.has(name)) continue;
      this.#busy.add(name);
      rec.open++;
      c.run((sql) => sql`INSERT INTO chaos_probe(node, instant) VALUES (${name}, ${k})`, this.timeoutMs)
        .then((ok) => {
          if (ok) rec.nodes.add(name);
        })
        .finally(() => {
          this.#busy.delete(name);
          if (--rec.open > 0) return;
          this.#accepted.delete(k);
          if (rec.nodes.size === 1) this.writableInstants++;
          if (rec.nodes.size > 1) {
            this.splitBrains.push({ instant: k, at: new Date(rec.at).toISOString(), nodes: [...rec.nodes] });
          }
        });
    }
    if (rec.open === 0) this.#accepted.delete(k);
  }
}

export class Writer {
  readonly acked: number[] = [];
  attempts = 0;
  #stop = false;
  #done: Promise<void> | null = null;
  #channels: Channel[];

  constructor(nodes: TestNode[], readonly timeoutMs = 2000) {
    this.#channels = nodes.map((n) => new Channel(n));
  }

  start(): void {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    let next = 1;
    let at = 0;
    while (!this.#stop) {
      const c = this.#channels[at % this.#channels.length]!;
      const id = next++; // an id whose commit is not acknowledged is never reused nor counted
      this.attempts++;
      if (await c.run((sql) => sql`INSERT INTO chaos_acked(id) VALUES (${id})`, this.timeoutMs)) {
        this.acked.push(id);
        await new Promise((r) => setTimeout(r, 20));
      } else {
        at++;
        if (at % this.#channels.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
    for (const c of this.#channels) c.reset();
  }
}

/** Acknowledged ids that `node` does not have. */
export async function missingOn(node: TestNode, acked: readonly number[]): Promise<number[]> {
  const sql = node.sql({ socket: true });
  try {
    const rows = await sql<{ id: string }[]>`SELECT id FROM chaos_acked`;
    const have = new Set(rows.map((r) => Number(r.id)));
    return acked.filter((i) => !have.has(i));
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

export async function createChaosTables(node: TestNode): Promise<void> {
  const sql = node.sql({ socket: true });
  try {
    await sql`CREATE TABLE IF NOT EXISTS chaos_acked(id bigint PRIMARY KEY)`;
    await sql`CREATE TABLE IF NOT EXISTS chaos_probe(node text, instant int, at timestamptz DEFAULT now())`;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}
