-- pgwarden TEST EMULATION of the Citus extension (NOT Citus). See README.md in this directory.
--
-- Emulates only what pgwarden calls, with the names, signatures and effects on pg_dist_node of Citus 13.0:
--   pg_dist_node, pg_dist_authinfo, noderole,
--   citus_add_node, citus_update_node (force / lock_cooldown), citus_remove_node, citus_set_coordinator_host.
-- Plus test-only helpers in schema citus_emulation (never called by pgwarden):
--   citus_emulation.run_on_group(groupid, command): a "distributed statement" routed to a group's primary.
--
-- Shard locks are modelled as one advisory lock per worker group (key pair 1129600000, groupid): a distributed
-- statement holds it shared until its transaction ends; citus_update_node of a primary takes it exclusively,
-- so it waits for open distributed transactions and blocks new ones until the updating transaction ends.

\echo Use "CREATE EXTENSION citus" to load this file. \quit

SET LOCAL allow_system_table_mods = on;

CREATE TYPE pg_catalog.noderole AS ENUM ('primary', 'secondary', 'unavailable');

CREATE SEQUENCE pg_catalog.pg_dist_node_nodeid_seq;
CREATE SEQUENCE pg_catalog.pg_dist_groupid_seq MINVALUE 1;

CREATE TABLE pg_catalog.pg_dist_node (
  nodeid integer NOT NULL DEFAULT nextval('pg_catalog.pg_dist_node_nodeid_seq') PRIMARY KEY,
  groupid integer NOT NULL,
  nodename text NOT NULL,
  nodeport integer NOT NULL DEFAULT 5432,
  noderack text NOT NULL DEFAULT 'default',
  hasmetadata boolean NOT NULL DEFAULT false,
  isactive boolean NOT NULL DEFAULT true,
  noderole pg_catalog.noderole NOT NULL DEFAULT 'primary',
  nodecluster name NOT NULL DEFAULT 'default',
  metadatasynced boolean NOT NULL DEFAULT false,
  shouldhaveshards boolean NOT NULL DEFAULT true,
  UNIQUE (nodename, nodeport)
);

CREATE TABLE pg_catalog.pg_dist_authinfo (
  nodeid integer NOT NULL,
  rolename name NOT NULL CHECK (rolename <> ''),
  authinfo text NOT NULL
);
CREATE UNIQUE INDEX pg_dist_authinfo_identification_index ON pg_catalog.pg_dist_authinfo (rolename, nodeid DESC);

CREATE SCHEMA citus_emulation;

-- The advisory-lock key standing for the shard locks of one group.
CREATE FUNCTION citus_emulation.shard_lock_key() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 1129600000';

-- libpq connection string to a node, with the authentication Citus would use (pg_dist_authinfo: the row for
-- this node, else the wildcard row 0, for the current user).
CREATE FUNCTION citus_emulation.conninfo(n pg_catalog.pg_dist_node) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT format('host=%s port=%s dbname=%s user=%s connect_timeout=2 %s',
    n.nodename, n.nodeport, current_database(), current_user,
    coalesce((SELECT a.authinfo FROM pg_catalog.pg_dist_authinfo a
              WHERE a.rolename = current_user AND a.nodeid IN (n.nodeid, 0)
              ORDER BY a.nodeid DESC LIMIT 1), ''))
$$;

-- Citus connects to other nodes for metadata operations; the emulation does it through dblink, which the
-- tests install into template1 (so every Citus database has it).
CREATE FUNCTION citus_emulation.check_reachable(n pg_catalog.pg_dist_node) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'dblink') THEN
    RAISE EXCEPTION 'the Citus emulation needs the dblink extension in database %', current_database();
  END IF;
  BEGIN
    PERFORM * FROM dblink(citus_emulation.conninfo(n), 'SELECT 1') AS t(one integer);
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'connection to the remote node %@%:% failed with the following error: %',
      current_user, n.nodename, n.nodeport, SQLERRM;
  END;
END $$;

-- Take the group's shard locks exclusively, as citus_update_node does for a primary. Without force it waits as
-- long as it takes; with force it waits lock_cooldown ms, then terminates the backends holding them (Citus
-- starts a helper that does this) and takes them.
CREATE FUNCTION citus_emulation.lock_group_shards(group_id integer, force boolean, lock_cooldown integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  k integer := citus_emulation.shard_lock_key();
  old_timeout text := current_setting('lock_timeout');
BEGIN
  IF NOT force THEN
    PERFORM pg_advisory_xact_lock(k, group_id);
    RETURN;
  END IF;
  BEGIN
    PERFORM set_config('lock_timeout', greatest(lock_cooldown, 1) || 'ms', true);
    PERFORM pg_advisory_xact_lock(k, group_id);
    PERFORM set_config('lock_timeout', old_timeout, true);
    RETURN;
  EXCEPTION WHEN lock_not_available THEN
    NULL;
  END;
  LOOP
    PERFORM pg_terminate_backend(l.pid)
      FROM pg_locks l
     WHERE l.locktype = 'advisory' AND l.classid = k AND l.objid = group_id AND l.objsubid = 2
       AND l.granted AND l.pid <> pg_backend_pid();
    BEGIN
      PERFORM set_config('lock_timeout', '200ms', true);
      PERFORM pg_advisory_xact_lock(k, group_id);
      PERFORM set_config('lock_timeout', old_timeout, true);
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      NULL;
    END;
  END LOOP;
END $$;

CREATE FUNCTION pg_catalog.citus_add_node(nodename text, nodeport integer, groupid integer DEFAULT -1,
  noderole pg_catalog.noderole DEFAULT 'primary', nodecluster name DEFAULT 'default')
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  existing integer;
  new_node pg_catalog.pg_dist_node;
  g integer := groupid;
BEGIN
  LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
  SELECT n.nodeid INTO existing FROM pg_catalog.pg_dist_node n
   WHERE n.nodename = citus_add_node.nodename AND n.nodeport = citus_add_node.nodeport;
  IF FOUND THEN
    RETURN existing; -- like Citus: adding a known node returns its id
  END IF;
  IF g = -1 THEN
    IF noderole <> 'primary' THEN
      RAISE EXCEPTION 'group should be set for secondary nodes';
    END IF;
    g := nextval('pg_catalog.pg_dist_groupid_seq');
  END IF;
  IF noderole = 'primary' AND EXISTS (SELECT 1 FROM pg_catalog.pg_dist_node n
                                       WHERE n.groupid = g AND n.noderole = 'primary') THEN
    RAISE EXCEPTION 'group % already has a primary node', g;
  END IF;
  new_node := ROW(nextval('pg_catalog.pg_dist_node_nodeid_seq'), g, nodename, nodeport, 'default',
    noderole = 'primary', true, noderole, nodecluster, noderole = 'primary', g <> 0);
  IF noderole = 'primary' AND g <> 0 THEN
    -- Citus creates the extension objects and syncs metadata on a new primary: it must answer.
    PERFORM citus_emulation.check_reachable(new_node);
  END IF;
  INSERT INTO pg_catalog.pg_dist_node SELECT new_node.*;
  RETURN new_node.nodeid;
END $$;

CREATE FUNCTION pg_catalog.citus_update_node(node_id integer, new_node_name text, new_node_port integer,
  force boolean DEFAULT false, lock_cooldown integer DEFAULT 10000)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  n pg_catalog.pg_dist_node;
BEGIN
  SELECT * INTO n FROM pg_catalog.pg_dist_node WHERE nodeid = node_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'node % not found', node_id;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_node o
              WHERE o.nodename = new_node_name AND o.nodeport = new_node_port AND o.nodeid <> node_id) THEN
    RAISE EXCEPTION 'there is already another node with the specified hostname and port';
  END IF;
  IF n.nodename = new_node_name AND n.nodeport = new_node_port THEN
    RETURN;
  END IF;
  IF n.noderole = 'primary' THEN
    -- Reads and writes to the node's shards are blocked until this transaction ends.
    PERFORM citus_emulation.lock_group_shards(n.groupid, force, lock_cooldown);
  END IF;
  UPDATE pg_catalog.pg_dist_node SET nodename = new_node_name, nodeport = new_node_port
   WHERE nodeid = node_id;
END $$;

CREATE FUNCTION pg_catalog.citus_remove_node(nodename text, nodeport integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  n pg_catalog.pg_dist_node;
  m pg_catalog.pg_dist_node;
BEGIN
  SELECT * INTO n FROM pg_catalog.pg_dist_node d
   WHERE d.nodename = citus_remove_node.nodename AND d.nodeport = citus_remove_node.nodeport;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'node at "%:%" does not exist', nodename, nodeport;
  END IF;
  IF n.noderole = 'primary' AND n.groupid <> 0 THEN
    -- The emulation treats every worker group as holding shard placements.
    RAISE EXCEPTION 'cannot remove or disable the node %:% because because it contains the only shard placement for shard 102008',
      nodename, nodeport;
  END IF;
  -- The removal is propagated to every node with metadata: it fails while one of them is down.
  FOR m IN SELECT * FROM pg_catalog.pg_dist_node d
            WHERE d.hasmetadata AND d.isactive AND d.groupid <> 0 AND d.nodeid <> n.nodeid LOOP
    PERFORM citus_emulation.check_reachable(m);
  END LOOP;
  DELETE FROM pg_catalog.pg_dist_node WHERE nodeid = n.nodeid;
END $$;

CREATE FUNCTION pg_catalog.citus_set_coordinator_host(host text,
  port integer DEFAULT current_setting('port')::integer,
  node_role pg_catalog.noderole DEFAULT 'primary', node_cluster name DEFAULT 'default')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  coordinator integer;
BEGIN
  SELECT nodeid INTO coordinator FROM pg_catalog.pg_dist_node WHERE groupid = 0 AND noderole = node_role;
  IF FOUND THEN
    PERFORM pg_catalog.citus_update_node(coordinator, host, port);
  ELSE
    INSERT INTO pg_catalog.pg_dist_node (groupid, nodename, nodeport, hasmetadata, noderole, nodecluster,
                                         metadatasynced, shouldhaveshards)
    VALUES (0, host, port, true, node_role, node_cluster, true, false);
  END IF;
END $$;

-- TEST HELPER, not Citus API: run one statement on the primary of a group, the way Citus routes a
-- single-shard statement: shard lock (shared) first, then the primary's address from pg_dist_node, then the
-- statement on that node. Returns dblink_exec's status text.
CREATE FUNCTION citus_emulation.run_on_group(group_id integer, command text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  n pg_catalog.pg_dist_node;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(citus_emulation.shard_lock_key(), group_id);
  SELECT * INTO n FROM pg_catalog.pg_dist_node WHERE groupid = group_id AND noderole = 'primary';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no primary node in group %', group_id;
  END IF;
  RETURN dblink_exec(citus_emulation.conninfo(n), command);
END $$;
