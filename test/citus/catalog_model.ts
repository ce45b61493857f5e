/**
 * An in-memory pg_dist_node with the rules of Citus 13.0 that matter to pgwarden's plans (the same ones the
 * SQL emulation in test/citus_emulation enforces): unique host:port ("there is already another node with the
 * specified hostname and port"), one primary per group, no removal of a worker primary, and removal refused
 * while a metadata node is down.
 */
import type { CatalogStep, PgDistNode } from "../../src/citus/types.ts";

export class CatalogError extends Error {}

export class CatalogModel {
  rows: PgDistNode[];
  #next: number;
  /** Simulate a metadata node being down: removals fail. */
  metadataNodeDown = false;

  constructor(rows: PgDistNode[]) {
    this.rows = rows.map((r) => ({ ...r }));
    this.#next = Math.max(0, ...rows.map((r) => r.nodeid)) + 1;
  }

  clone(): CatalogModel {
    const c = new CatalogModel(this.rows);
    c.#next = this.#next;
    c.metadataNodeDown = this.metadataNodeDown;
    return c;
  }

  apply(s: CatalogStep): void {
    switch (s.op) {
      case "add": {
        if (this.rows.some((r) => r.host === s.host && r.port === s.port)) return; // Citus: returns the id
        if (s.role === "primary" && this.rows.some((r) => r.groupid === s.group && r.role === "primary")) {
          throw new CatalogError(`group ${s.group} already has a primary node`);
        }
        this.rows.push({ nodeid: this.#next++, groupid: s.group, role: s.role, host: s.host, port: s.port });
        return;
      }
      case "set_coordinator": {
        const c = this.rows.find((r) => r.groupid === 0 && r.role === "primary");
        if (c) return this.apply({ op: "update", nodeid: c.nodeid, host: s.host, port: s.port, why: "" });
        if (this.rows.some((r) => r.host === s.host && r.port === s.port)) {
          throw new CatalogError("duplicate key value violates unique constraint");
        }
        this.rows.push({ nodeid: this.#next++, groupid: 0, role: "primary", host: s.host, port: s.port });
        return;
      }
      case "update": {
        const r = this.rows.find((x) => x.nodeid === s.nodeid);
        if (!r) throw new CatalogError(`node ${s.nodeid} not found`);
        if (this.rows.some((x) => x.nodeid !== s.nodeid && x.host === s.host && x.port === s.port)) {
          throw new CatalogError("there is already another node with the specified hostname and port");
        }
        r.host = s.host;
        r.port = s.port;
        return;
      }
      case "remove": {
        const r = this.rows.find((x) => x.host === s.host && x.port === s.port);
        if (!r) throw new CatalogError(`node at "${s.host}:${s.port}" does not exist`);
        if (r.role === "primary" && r.groupid !== 0) {
          throw new CatalogError(`cannot remove the node ${s.host}:${s.port}: it holds shard placements`);
        }
        if (this.metadataNodeDown) throw new CatalogError("connection to the remote node failed");
        this.rows = this.rows.filter((x) => x !== r);
        return;
      }
    }
  }

  /** Apply steps as one transaction: all or nothing. */
  transaction(steps: CatalogStep[]): void {
    const saved = this.clone();
    try {
      for (const s of steps) this.apply(s);
    } catch (e) {
      this.rows = saved.rows;
      this.#next = saved.#next;
      throw e;
    }
  }
}
