-- Plain PostgreSQL: late inserts reach the roll-up log through a row trigger that live rows never reach (issue 20).
--
-- Migration 0032 logged late rows with a statement trigger whose transition table captured every inserted row
-- to find the few late ones: about 5 % of the write path's database CPU per row (`benchmarks/storage.py`) and
-- 15 % of ingest's throughput in one quiet pair of `envmon bench ingest` (docs/benchmarks.md). A row trigger's
-- WHEN clause is evaluated while the row is inserted, without queuing an event or calling the function, so a
-- live row now costs one comparison; a late row (a resend, an HJ 212 history answer, a backfill) costs one
-- insert into the log, and the refresh merges the log per series as before.
--
-- The WHEN bound must be a constant, so it is 0032's `now() - lag + margin` with its defaults: now() - 5 minutes.
-- It stays safe while `lag - margin` is at least 5 minutes (a row newer than the bound lies above every mark a
-- refresh can set while the writer's transaction, if younger than `margin`, is open): the state's CHECK says so.
-- UPDATE and DELETE keep 0032's statement triggers (rare, and they must see the old rows).

ALTER TABLE readings_rollup_state DROP CONSTRAINT readings_rollup_state_check;
ALTER TABLE readings_rollup_state ADD CONSTRAINT readings_rollup_state_late_bound
    CHECK (margin > INTERVAL '0' AND lag - margin >= INTERVAL '5 minutes');

CREATE FUNCTION readings_rollup_log_late_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO readings_rollup_late VALUES (NEW.device_id, NEW.pollutant, NEW.basis, NEW.time, NEW.time);
    RETURN NULL;
END
$$;

DROP TRIGGER readings_rollup_insert ON readings;
CREATE TRIGGER readings_rollup_insert_late AFTER INSERT ON readings FOR EACH ROW
    WHEN (NEW.time < now() - INTERVAL '5 minutes') EXECUTE FUNCTION readings_rollup_log_late_row();
