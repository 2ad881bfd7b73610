-- Plain PostgreSQL: the minute, hour and day roll-ups become tables, refreshed in the background the way
-- TimescaleDB refreshes its continuous aggregates, and the views readings_1m / readings_1h / readings_1d read
-- them (same names, columns and flag rule as migration 0004; TimescaleDB keeps its continuous aggregates).
--
-- Why: the views of 0004 grouped `readings` at query time, and a condition on their computed `bucket`
-- cannot reach the index on time, so a 30-day chart grouped the device's whole history (a year of one
-- analyser: 30-day chart p50 1.0 s, 1-year chart 1.9 s; `envmon bench history`, docs/benchmarks.md).
-- A trigger folding every batch into the tables was tried first: it was exact but halved the rows written per
-- database CPU-second (an upsert per series and width for every batch), so the work is done once per
-- minute of data instead, as TimescaleDB does.
--
-- How:
-- - Each table keeps mergeable parts per device, pollutant, basis and bucket: counts, the sum, minimum and
--   maximum of the valid (flag N) values, and the first abnormal flag letter.
-- - `readings_rollup_state.materialized_until` (W, a whole minute) splits time: the minute table holds the
--   buckets before W, the hour table the hours before W's hour, the day table the China days before W's day.
--   The views read the tables below those marks and compute the rest from the finer table and from
--   `readings` at or after W (real-time, like TimescaleDB's `materialized_only = false`).
-- - `readings_rollup_refresh()` (called by ingest every few seconds, ingest/rollups.py) first recomputes the
--   buckets of late readings (below), then advances W by at most `step` towards `now() - lag` (the database's clock, the one the trigger reads).
-- - Late readings: a statement trigger on `readings` logs, per series, the time range of rows older than
--   `now() - lag + margin` (in `readings_rollup_late`), and the next refresh recomputes those buckets. A row
--   newer than that bound lies above every W a refresh can set while the writer's transaction is open, unless
--   that transaction is older than `margin` (5 minutes; ingest's are one COPY long). UPDATE and DELETE log the
--   ranges they touch in the same way. Until the next refresh such buckets show their previous values
--   (TimescaleDB's continuous aggregates behave the same way between refreshes).
-- - W starts at -infinity: until the first refresh the views compute everything from `readings`, exactly.

CREATE TABLE readings_1m_rollup (
    device_id     integer NOT NULL,
    pollutant     text NOT NULL,
    basis         text NOT NULL,
    bucket        timestamptz NOT NULL,
    sample_count  bigint NOT NULL,
    valid_count   bigint NOT NULL,
    value_sum     double precision,
    value_min     double precision,
    value_max     double precision,
    abnormal_flag text,
    PRIMARY KEY (device_id, pollutant, basis, bucket)
);
CREATE TABLE readings_1h_rollup (LIKE readings_1m_rollup INCLUDING ALL);
CREATE TABLE readings_1d_rollup (LIKE readings_1m_rollup INCLUDING ALL);
-- The refresh derives hours from the minutes, and days from the hours, of a time range across all series:
-- without these it read the whole finer table at every refresh.
CREATE INDEX readings_1m_rollup_bucket ON readings_1m_rollup (bucket);
CREATE INDEX readings_1h_rollup_bucket ON readings_1h_rollup (bucket);

CREATE TABLE readings_rollup_state (
    one                boolean PRIMARY KEY DEFAULT true CHECK (one),
    materialized_until timestamptz NOT NULL DEFAULT '-infinity',
    step               interval NOT NULL DEFAULT INTERVAL '6 hours',
    lag                interval NOT NULL DEFAULT INTERVAL '10 minutes',
    margin             interval NOT NULL DEFAULT INTERVAL '5 minutes' CHECK (margin < lag),
    refreshed_at       timestamptz
);
INSERT INTO readings_rollup_state DEFAULT VALUES;

CREATE TABLE readings_rollup_late (
    device_id  integer NOT NULL,
    pollutant  text NOT NULL,
    basis      text NOT NULL,
    first_time timestamptz NOT NULL,
    last_time  timestamptz NOT NULL
);

-- The buckets of 0004: UTC minutes and hours, China Standard Time days; infinities stay as they are.
CREATE FUNCTION readings_rollup_bucket(width text, t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN NOT isfinite(t) THEN t
        WHEN width = 'minute' THEN date_bin(INTERVAL '1 minute', t, TIMESTAMPTZ '2000-01-01 00:00:00+00')
        WHEN width = 'hour' THEN date_bin(INTERVAL '1 hour', t, TIMESTAMPTZ '2000-01-01 00:00:00+00')
        ELSE date_bin(INTERVAL '1 day', t, TIMESTAMPTZ '2000-01-01 00:00:00+08')
    END
$$;

-- Where each table's materialized buckets end.
CREATE FUNCTION readings_rollup_until(width text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT readings_rollup_bucket(width, materialized_until) FROM readings_rollup_state
$$;

-- Log the series and time ranges of rows older than now() - lag + margin (late rows).
CREATE FUNCTION readings_rollup_log_late() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bound timestamptz := (SELECT now() - lag + margin FROM readings_rollup_state);
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO readings_rollup_late
        SELECT device_id, pollutant, basis, min(time), max(time) FROM readings_rollup_new
        WHERE time < bound GROUP BY device_id, pollutant, basis;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO readings_rollup_late
        SELECT device_id, pollutant, basis, min(time), max(time) FROM readings_rollup_old
        WHERE time < bound GROUP BY device_id, pollutant, basis;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER readings_rollup_insert AFTER INSERT ON readings
    REFERENCING NEW TABLE AS readings_rollup_new FOR EACH STATEMENT EXECUTE FUNCTION readings_rollup_log_late();
CREATE TRIGGER readings_rollup_update AFTER UPDATE ON readings
    REFERENCING OLD TABLE AS readings_rollup_old NEW TABLE AS readings_rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION readings_rollup_log_late();
CREATE TRIGGER readings_rollup_delete AFTER DELETE ON readings
    REFERENCING OLD TABLE AS readings_rollup_old FOR EACH STATEMENT EXECUTE FUNCTION readings_rollup_log_late();

-- Recompute the buckets of one series that hold times in [first_time, last_time]: minutes from `readings`, then
-- the whole hours and days they lie in from the finer table, each up to its table's mark.
CREATE FUNCTION readings_rollup_recompute(d integer, p text, b text, first_time timestamptz, last_time timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m_lo timestamptz := readings_rollup_bucket('minute', first_time);
    m_hi timestamptz := least(readings_rollup_bucket('minute', last_time) + INTERVAL '1 minute',
                              readings_rollup_until('minute'));
    h_lo timestamptz := readings_rollup_bucket('hour', first_time);
    h_hi timestamptz := least(readings_rollup_bucket('hour', last_time) + INTERVAL '1 hour',
                              readings_rollup_until('hour'));
    d_lo timestamptz := readings_rollup_bucket('day', first_time);
    d_hi timestamptz := least(readings_rollup_bucket('day', last_time) + INTERVAL '1 day',
                              readings_rollup_until('day'));
BEGIN
    DELETE FROM readings_1m_rollup WHERE (device_id, pollutant, basis) = (d, p, b) AND bucket >= m_lo AND bucket < m_hi;
    INSERT INTO readings_1m_rollup
    SELECT device_id, pollutant, basis, readings_rollup_bucket('minute', time) AS k, count(*),
           count(*) FILTER (WHERE flag = 'N'), sum(value) FILTER (WHERE flag = 'N'),
           min(value) FILTER (WHERE flag = 'N'), max(value) FILTER (WHERE flag = 'N'),
           min(flag) FILTER (WHERE flag <> 'N')
    FROM readings WHERE (device_id, pollutant, basis) = (d, p, b) AND time >= m_lo AND time < m_hi
    GROUP BY device_id, pollutant, basis, k;
    DELETE FROM readings_1h_rollup WHERE (device_id, pollutant, basis) = (d, p, b) AND bucket >= h_lo AND bucket < h_hi;
    INSERT INTO readings_1h_rollup
    SELECT device_id, pollutant, basis, readings_rollup_bucket('hour', bucket) AS k, sum(sample_count),
           sum(valid_count), sum(value_sum), min(value_min), max(value_max), min(abnormal_flag)
    FROM readings_1m_rollup WHERE (device_id, pollutant, basis) = (d, p, b) AND bucket >= h_lo AND bucket < h_hi
    GROUP BY device_id, pollutant, basis, k;
    DELETE FROM readings_1d_rollup WHERE (device_id, pollutant, basis) = (d, p, b) AND bucket >= d_lo AND bucket < d_hi;
    INSERT INTO readings_1d_rollup
    SELECT device_id, pollutant, basis, readings_rollup_bucket('day', bucket) AS k, sum(sample_count),
           sum(valid_count), sum(value_sum), min(value_min), max(value_max), min(abnormal_flag)
    FROM readings_1h_rollup WHERE (device_id, pollutant, basis) = (d, p, b) AND bucket >= d_lo AND bucket < d_hi
    GROUP BY device_id, pollutant, basis, k;
END
$$;

-- One refresh: the late ranges logged so far, then W one step towards now - lag. Returns how far W still is
-- from its target (zero when caught up), so that a caller can call again at once while catching up.
-- Two refreshes never run at once (an advisory lock; the second returns NULL at once).
CREATE FUNCTION readings_rollup_refresh() RETURNS interval LANGUAGE plpgsql AS $$
DECLARE
    st readings_rollup_state;
    late record;
    target timestamptz;
    w_new timestamptz;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('readings_rollup_refresh')) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO st FROM readings_rollup_state FOR UPDATE;
    target := readings_rollup_bucket('minute', now() - st.lag);
    IF st.materialized_until = '-infinity' THEN
        -- The first refresh: start at the oldest reading (nothing below it to materialize).
        UPDATE readings_rollup_state
        SET materialized_until = least(target, coalesce(readings_rollup_bucket('minute', (SELECT min(time) FROM readings)), target)),
            refreshed_at = now();
        RETURN target - (SELECT materialized_until FROM readings_rollup_state);
    END IF;
    -- Late rows: each logged series range once (what this transaction sees of the log; the rest waits).
    FOR late IN
        WITH taken AS (DELETE FROM readings_rollup_late RETURNING *)
        SELECT device_id, pollutant, basis, min(first_time) AS lo, max(last_time) AS hi FROM taken
        GROUP BY device_id, pollutant, basis
    LOOP
        PERFORM readings_rollup_recompute(late.device_id, late.pollutant, late.basis, late.lo, late.hi);
    END LOOP;
    IF st.materialized_until >= target THEN
        UPDATE readings_rollup_state SET refreshed_at = now();
        RETURN INTERVAL '0';
    END IF;
    w_new := least(target, st.materialized_until + st.step);
    -- New minutes [W, w_new) from readings; then the hours and days that end by w_new, from the finer table.
    INSERT INTO readings_1m_rollup
    SELECT device_id, pollutant, basis, readings_rollup_bucket('minute', time) AS k, count(*),
           count(*) FILTER (WHERE flag = 'N'), sum(value) FILTER (WHERE flag = 'N'),
           min(value) FILTER (WHERE flag = 'N'), max(value) FILTER (WHERE flag = 'N'),
           min(flag) FILTER (WHERE flag <> 'N')
    FROM readings WHERE time >= st.materialized_until AND time < w_new
    GROUP BY device_id, pollutant, basis, k
    ON CONFLICT (device_id, pollutant, basis, bucket) DO UPDATE SET
        sample_count = EXCLUDED.sample_count, valid_count = EXCLUDED.valid_count, value_sum = EXCLUDED.value_sum,
        value_min = EXCLUDED.value_min, value_max = EXCLUDED.value_max, abnormal_flag = EXCLUDED.abnormal_flag;
    INSERT INTO readings_1h_rollup
    SELECT device_id, pollutant, basis, readings_rollup_bucket('hour', bucket) AS k, sum(sample_count),
           sum(valid_count), sum(value_sum), min(value_min), max(value_max), min(abnormal_flag)
    FROM readings_1m_rollup
    WHERE bucket >= readings_rollup_bucket('hour', st.materialized_until) AND bucket < readings_rollup_bucket('hour', w_new)
    GROUP BY device_id, pollutant, basis, k
    ON CONFLICT (device_id, pollutant, basis, bucket) DO UPDATE SET
        sample_count = EXCLUDED.sample_count, valid_count = EXCLUDED.valid_count, value_sum = EXCLUDED.value_sum,
        value_min = EXCLUDED.value_min, value_max = EXCLUDED.value_max, abnormal_flag = EXCLUDED.abnormal_flag;
    INSERT INTO readings_1d_rollup
    SELECT device_id, pollutant, basis, readings_rollup_bucket('day', bucket) AS k, sum(sample_count),
           sum(valid_count), sum(value_sum), min(value_min), max(value_max), min(abnormal_flag)
    FROM readings_1h_rollup
    WHERE bucket >= readings_rollup_bucket('day', st.materialized_until) AND bucket < readings_rollup_bucket('day', w_new)
    GROUP BY device_id, pollutant, basis, k
    ON CONFLICT (device_id, pollutant, basis, bucket) DO UPDATE SET
        sample_count = EXCLUDED.sample_count, valid_count = EXCLUDED.valid_count, value_sum = EXCLUDED.value_sum,
        value_min = EXCLUDED.value_min, value_max = EXCLUDED.value_max, abnormal_flag = EXCLUDED.abnormal_flag;
    UPDATE readings_rollup_state SET materialized_until = w_new, refreshed_at = now();
    RETURN target - w_new;
END
$$;

-- The views of 0004 over the tables and, above their marks, over the finer table and `readings`: the same
-- columns, the same flag rule.
CREATE FUNCTION readings_rollup_flag(pollutant text, sample_count bigint, valid_count bigint, abnormal_flag text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN valid_count = sample_count THEN 'N'
        WHEN left(pollutant, 1) = 'w' THEN abnormal_flag
        WHEN valid_count >= 0.75 * sample_count THEN 'N'
        ELSE 'D'
    END
$$;

CREATE OR REPLACE VIEW readings_1m AS
WITH parts AS (
    SELECT device_id, pollutant, basis, bucket, sample_count, valid_count, value_sum, value_min, value_max,
           abnormal_flag
    FROM readings_1m_rollup WHERE bucket < readings_rollup_until('minute')
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('minute', time), 1, (flag = 'N')::int,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag = 'N' THEN value END,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag <> 'N' THEN flag END
    FROM readings WHERE time >= readings_rollup_until('minute')
)
SELECT device_id, pollutant, basis, bucket, sum(value_sum) / nullif(sum(valid_count), 0) AS value_avg,
       min(value_min) AS value_min, max(value_max) AS value_max, sum(sample_count)::bigint AS sample_count,
       sum(valid_count)::bigint AS valid_count,
       readings_rollup_flag(pollutant, sum(sample_count)::bigint, sum(valid_count)::bigint, min(abnormal_flag)) AS flag
FROM parts GROUP BY device_id, pollutant, basis, bucket;

CREATE OR REPLACE VIEW readings_1h AS
WITH parts AS (
    SELECT device_id, pollutant, basis, bucket, sample_count, valid_count, value_sum, value_min, value_max,
           abnormal_flag
    FROM readings_1h_rollup WHERE bucket < readings_rollup_until('hour')
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('hour', bucket), sample_count, valid_count, value_sum,
           value_min, value_max, abnormal_flag
    FROM readings_1m_rollup WHERE bucket >= readings_rollup_until('hour') AND bucket < readings_rollup_until('minute')
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('hour', time), 1, (flag = 'N')::int,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag = 'N' THEN value END,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag <> 'N' THEN flag END
    FROM readings WHERE time >= readings_rollup_until('minute')
)
SELECT device_id, pollutant, basis, bucket, sum(value_sum) / nullif(sum(valid_count), 0) AS value_avg,
       min(value_min) AS value_min, max(value_max) AS value_max, sum(sample_count)::bigint AS sample_count,
       sum(valid_count)::bigint AS valid_count,
       readings_rollup_flag(pollutant, sum(sample_count)::bigint, sum(valid_count)::bigint, min(abnormal_flag)) AS flag
FROM parts GROUP BY device_id, pollutant, basis, bucket;

CREATE OR REPLACE VIEW readings_1d AS
WITH parts AS (
    SELECT device_id, pollutant, basis, bucket, sample_count, valid_count, value_sum, value_min, value_max,
           abnormal_flag
    FROM readings_1d_rollup WHERE bucket < readings_rollup_until('day')
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('day', bucket), sample_count, valid_count, value_sum,
           value_min, value_max, abnormal_flag
    FROM readings_1h_rollup WHERE bucket >= readings_rollup_until('day') AND bucket < readings_rollup_until('hour')
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('day', bucket), sample_count, valid_count, value_sum,
           value_min, value_max, abnormal_flag
    FROM readings_1m_rollup WHERE bucket >= readings_rollup_until('hour') AND bucket < readings_rollup_until('minute')
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('day', time), 1, (flag = 'N')::int,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag = 'N' THEN value END,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag <> 'N' THEN flag END
    FROM readings WHERE time >= readings_rollup_until('minute')
)
SELECT device_id, pollutant, basis, bucket, sum(value_sum) / nullif(sum(valid_count), 0) AS value_avg,
       min(value_min) AS value_min, max(value_max) AS value_max, sum(sample_count)::bigint AS sample_count,
       sum(valid_count)::bigint AS valid_count,
       readings_rollup_flag(pollutant, sum(sample_count)::bigint, sum(valid_count)::bigint, min(abnormal_flag)) AS flag
FROM parts GROUP BY device_id, pollutant, basis, bucket;
