-- The forwarding queue trigger on readings exists only while a route of an enabled target exists
-- (issue 20). Before, every insert into readings paid for it: here the statement trigger's transition
-- table (the inserted rows kept a second time) and a probe of forward_routes, on TimescaleDB a function
-- call per row (~17 us a reading, 100k rows: 0.6 s -> 2.3 s) for devices nobody forwards.
--
-- Route and target changes re-check at commit (deferred constraint triggers, so a `forward load` that
-- replaces many routes does one DDL at most) and create or drop `readings_forward` when the answer
-- changed. Readings committed after a route's transaction commits are queued; readings that committed
-- before it are not (as before). DROP TRIGGER takes an ACCESS EXCLUSIVE lock on readings until that
-- commit: ingest and readers wait for the few milliseconds of the forwarding change.

DROP TRIGGER readings_forward ON readings;

CREATE FUNCTION forward_sync_readings_trigger() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    wanted boolean;
    present boolean;
BEGIN
    -- Two transactions changing routes at once: the second waits here and then reads the routes the
    -- first committed (each statement of this volatile function takes a new snapshot).
    PERFORM pg_advisory_xact_lock(hashtext('envmon.forward_sync_readings_trigger'));
    wanted := EXISTS (SELECT 1 FROM forward_routes r JOIN forward_targets t ON t.id = r.target_id AND t.enabled);
    present := EXISTS (
        SELECT 1 FROM pg_trigger WHERE tgrelid = 'readings'::regclass AND tgname = 'readings_forward'
    );
    IF wanted AND NOT present THEN
        CREATE TRIGGER readings_forward AFTER INSERT ON readings REFERENCING NEW TABLE AS inserted_readings
            FOR EACH STATEMENT EXECUTE FUNCTION forward_enqueue();
    ELSIF present AND NOT wanted THEN
        DROP TRIGGER readings_forward ON readings;
    END IF;
END;
$$;

CREATE FUNCTION forward_routing_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM forward_sync_readings_trigger();
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER forward_routes_sync AFTER INSERT OR UPDATE OR DELETE ON forward_routes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION forward_routing_changed();
CREATE CONSTRAINT TRIGGER forward_targets_sync AFTER INSERT OR UPDATE OR DELETE ON forward_targets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION forward_routing_changed();
-- Constraint triggers cannot fire on TRUNCATE.
CREATE TRIGGER forward_routes_truncated AFTER TRUNCATE ON forward_routes
    FOR EACH STATEMENT EXECUTE FUNCTION forward_routing_changed();
CREATE TRIGGER forward_targets_truncated AFTER TRUNCATE ON forward_targets
    FOR EACH STATEMENT EXECUTE FUNCTION forward_routing_changed();

SELECT forward_sync_readings_trigger();
