-- Aggregates at 1 minute, 1 hour and 1 day per device, pollutant and basis: avg/min/max of valid
-- (flag N) values, sample and valid counts, and the rolled-up flag. Roll-up (HJ 212 practice):
-- wastewater codes (w...) are abnormal when any value is abnormal (the interval takes the first
-- abnormal flag in alphabetical order); other codes are normal when at least 75 % of values are,
-- otherwise D. Daily buckets are China Standard Time days (UTC+8, no daylight saving), as the
-- compliance rules count them.
-- Plain PostgreSQL variant: views computing the same columns with date_bin at query time.

CREATE VIEW readings_1m AS
SELECT
    device_id,
    pollutant,
    basis,
    date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
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
GROUP BY device_id, pollutant, basis, bucket;

CREATE VIEW readings_1h AS
SELECT
    device_id,
    pollutant,
    basis,
    date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
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
GROUP BY device_id, pollutant, basis, bucket;

CREATE VIEW readings_1d AS
SELECT
    device_id,
    pollutant,
    basis,
    date_bin(INTERVAL '1 day', time, TIMESTAMPTZ '2000-01-01 00:00:00+08') AS bucket,
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
GROUP BY device_id, pollutant, basis, bucket;
