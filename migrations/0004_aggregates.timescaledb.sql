-- Aggregates at 1 minute, 1 hour and 1 day per device, pollutant and basis: avg/min/max of valid
-- (flag N) values, sample and valid counts, and the rolled-up flag. Roll-up (HJ 212 practice):
-- wastewater codes (w...) are abnormal when any value is abnormal (the interval takes the first
-- abnormal flag in alphabetical order); other codes are normal when at least 75 % of values are,
-- otherwise D. Daily buckets are China Standard Time days (UTC+8, no daylight saving), as the
-- compliance rules count them.
-- TimescaleDB variant: continuous aggregates (the daily one with time_bucket's timezone argument,
-- supported in continuous aggregates since 2.8), real-time (materialized_only = false) so the
-- newest buckets are always complete, with refresh policies.

CREATE MATERIALIZED VIEW readings_1m
WITH (timescaledb.continuous) AS
SELECT
    device_id,
    pollutant,
    basis,
    time_bucket(INTERVAL '1 minute', time) AS bucket,
    avg(CASE WHEN flag = 'N' THEN value END) AS value_avg,
    min(CASE WHEN flag = 'N' THEN value END) AS value_min,
    max(CASE WHEN flag = 'N' THEN value END) AS value_max,
    count(*) AS sample_count,
    sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END) AS valid_count,
    CASE
        WHEN sum(CASE WHEN flag = 'N' THEN 0 ELSE 1 END) = 0 THEN 'N'
        WHEN left(pollutant, 1) = 'w' THEN min(CASE WHEN flag <> 'N' THEN flag END)
        WHEN sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END) >= 0.75 * count(*) THEN 'N'
        ELSE 'D'
    END AS flag
FROM readings
GROUP BY device_id, pollutant, basis, bucket
WITH NO DATA;

ALTER MATERIALIZED VIEW readings_1m SET (timescaledb.materialized_only = false);

SELECT add_continuous_aggregate_policy('readings_1m',
    start_offset => INTERVAL '1 day',
    end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');

CREATE MATERIALIZED VIEW readings_1h
WITH (timescaledb.continuous) AS
SELECT
    device_id,
    pollutant,
    basis,
    time_bucket(INTERVAL '1 hour', time) AS bucket,
    avg(CASE WHEN flag = 'N' THEN value END) AS value_avg,
    min(CASE WHEN flag = 'N' THEN value END) AS value_min,
    max(CASE WHEN flag = 'N' THEN value END) AS value_max,
    count(*) AS sample_count,
    sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END) AS valid_count,
    CASE
        WHEN sum(CASE WHEN flag = 'N' THEN 0 ELSE 1 END) = 0 THEN 'N'
        WHEN left(pollutant, 1) = 'w' THEN min(CASE WHEN flag <> 'N' THEN flag END)
        WHEN sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END) >= 0.75 * count(*) THEN 'N'
        ELSE 'D'
    END AS flag
FROM readings
GROUP BY device_id, pollutant, basis, bucket
WITH NO DATA;

ALTER MATERIALIZED VIEW readings_1h SET (timescaledb.materialized_only = false);

SELECT add_continuous_aggregate_policy('readings_1h',
    start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '10 minutes');

CREATE MATERIALIZED VIEW readings_1d
WITH (timescaledb.continuous) AS
SELECT
    device_id,
    pollutant,
    basis,
    time_bucket(INTERVAL '1 day', time, 'Asia/Shanghai') AS bucket,
    avg(CASE WHEN flag = 'N' THEN value END) AS value_avg,
    min(CASE WHEN flag = 'N' THEN value END) AS value_min,
    max(CASE WHEN flag = 'N' THEN value END) AS value_max,
    count(*) AS sample_count,
    sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END) AS valid_count,
    CASE
        WHEN sum(CASE WHEN flag = 'N' THEN 0 ELSE 1 END) = 0 THEN 'N'
        WHEN left(pollutant, 1) = 'w' THEN min(CASE WHEN flag <> 'N' THEN flag END)
        WHEN sum(CASE WHEN flag = 'N' THEN 1 ELSE 0 END) >= 0.75 * count(*) THEN 'N'
        ELSE 'D'
    END AS flag
FROM readings
GROUP BY device_id, pollutant, basis, bucket
WITH NO DATA;

ALTER MATERIALIZED VIEW readings_1d SET (timescaledb.materialized_only = false);

SELECT add_continuous_aggregate_policy('readings_1d',
    start_offset => INTERVAL '30 days',
    end_offset => INTERVAL '1 day',
    schedule_interval => INTERVAL '1 hour');
