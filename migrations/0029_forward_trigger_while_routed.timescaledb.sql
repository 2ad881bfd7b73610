-- The forwarding queue trigger on readings fires only for routed devices, and exists only while a route
-- of an enabled target exists (issue 20), TimescaleDB variant (see the .postgres.sql variant for the why).
-- Hypertables refuse transition tables, so the trigger stays row-level, with a WHEN clause listing the
-- routed devices: the clause is evaluated without calling the function, so readings of devices nobody
-- forwards no longer pay the ~17 us a row of a PL/pgSQL call. The list is rebuilt when routes change.
-- The trigger's comment holds the list it was built with, so an unchanged list causes no DDL.

DROP TRIGGER readings_forward ON readings;

CREATE FUNCTION forward_sync_readings_trigger() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    wanted text;
    present text;
BEGIN
    -- Two transactions changing routes at once: the second waits here and then reads the routes the
    -- first committed (each statement of this volatile function takes a new snapshot).
    PERFORM pg_advisory_xact_lock(hashtext('envmon.forward_sync_readings_trigger'));
    SELECT array_agg(DISTINCT r.device_id ORDER BY r.device_id)::text INTO wanted
    FROM forward_routes r JOIN forward_targets t ON t.id = r.target_id AND t.enabled;
    SELECT coalesce(obj_description(oid, 'pg_trigger'), '') INTO present
    FROM pg_trigger WHERE tgrelid = 'readings'::regclass AND tgname = 'readings_forward';
    IF wanted IS NOT DISTINCT FROM present THEN
        RETURN;
    END IF;
    DROP TRIGGER IF EXISTS readings_forward ON readings;
    IF wanted IS NOT NULL THEN
        EXECUTE format(
            'CREATE TRIGGER readings_forward AFTER INSERT ON readings FOR EACH ROW '
            'WHEN (NEW.device_id = ANY (%L::integer[])) EXECUTE FUNCTION forward_enqueue()', wanted);
        EXECUTE format('COMMENT ON TRIGGER readings_forward ON readings IS %L', wanted);
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
