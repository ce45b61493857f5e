/**
 * Shared parts of the three-node demo cluster (scope "demo", etcd on 127.0.0.1:2379). Relative paths are
 * resolved against the working directory when the config is loaded: run from the repository root.
 */
import type { ConfigInput } from "../../mod.ts";

/** Everything but the node's name, addresses and directories. */
export const common = {
  scope: "demo",
  etcd3: { hosts: ["127.0.0.1:2379"] },
  bootstrap: {
    dcs: { ttl: 10, loopWait: 2, retryTimeout: 3 },
  },
} satisfies Partial<ConfigInput>;

/** The PostgreSQL settings all demo nodes share. */
export const postgresqlCommon = {
  authentication: {
    superuser: { username: "postgres", password: "postgres" },
    replication: { username: "replicator", password: "rep-pass" },
  },
  pgHba: [
    "local all all trust",
    "local replication all trust",
    "host all all 127.0.0.1/32 md5",
    "host replication replicator 127.0.0.1/32 md5",
  ],
  usePgRewind: true,
} satisfies Partial<ConfigInput["postgresql"]>;
