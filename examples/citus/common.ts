/**
 * The Citus example: a coordinator group (0) and two worker groups (1, 2) of two nodes each, one scope, one
 * etcd on 127.0.0.1:2379, everything on this machine. Node `g<group>n<i>` has PostgreSQL on port
 * 5450 + 2·group + (i - 1) and its REST API on 8050 + 2·group + (i - 1). Run from the repository root
 * (relative paths resolve against the working directory).
 */
import type { ConfigInput } from "../../mod.ts";

export const SCOPE = "citusdemo";
export const DATABASE = "citus";

export const pgPort = (group: number, i: number) => 5450 + 2 * group + (i - 1);
export const apiPort = (group: number, i: number) => 8050 + 2 * group + (i - 1);

/** The config of node `i` (1 or 2) of `group`. */
export function citusNode(group: number, i: number): ConfigInput {
  const name = `g${group}n${i}`;
  return {
    scope: SCOPE,
    name,
    etcd3: { hosts: ["127.0.0.1:2379"] },
    // Every member of every group: same scope, same superuser (Citus connects between nodes as it).
    citus: { group, database: DATABASE },
    restapi: {
      listen: `127.0.0.1:${apiPort(group, i)}`,
      connectAddress: `127.0.0.1:${apiPort(group, i)}`,
    },
    bootstrap: {
      // Citus clusters default to quorum commit (synchronousMode: "quorum"), like Patroni.
      dcs: { ttl: 20, loopWait: 2, retryTimeout: 5, postgresql: { parameters: { max_connections: 100 } } },
    },
    postgresql: {
      listen: `127.0.0.1:${pgPort(group, i)}`,
      connectAddress: `127.0.0.1:${pgPort(group, i)}`,
      dataDir: `data/citus/${name}`,
      pgpass: `data/citus/${name}.pgpass`,
      authentication: {
        superuser: { username: "postgres", password: "postgres" },
        replication: { username: "replicator", password: "rep-pass" },
      },
      pgHba: [
        "local all all trust",
        "host all all 127.0.0.1/32 md5",
        "host replication replicator 127.0.0.1/32 md5",
      ],
      usePgRewind: true,
      basebackup: { checkpoint: "fast" },
    },
  };
}
