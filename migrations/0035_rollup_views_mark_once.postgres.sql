-- Plain PostgreSQL: the roll-up views read their tables' marks once per query, not once per row (issue 20).
--
-- Migration 0032's views compare `time` / `bucket` with readings_rollup_until(width), a SQL function that reads
-- readings_rollup_state. The planner cannot inline it (it has a FROM), so wherever the comparison is a filter or
-- a bitmap recheck it is called for every row looked at: a daily compliance report's hourly counts
-- (envmon/validity_store.py) took 7-12 s on a plant with 120 days of history, 582,264 rows rechecked through a
-- lossy BRIN scan of `readings` (`envmon bench history`, docs/benchmarks.md). As a scalar subquery the mark is an
-- InitPlan, computed once, and the same comparison costs nothing: 0.26 s. Same views, same columns, same rows.
CREATE OR REPLACE VIEW readings_1m AS
WITH parts AS (
    SELECT device_id, pollutant, basis, bucket, sample_count, valid_count, value_sum, value_min, value_max,
           abnormal_flag
    FROM readings_1m_rollup WHERE bucket < (SELECT readings_rollup_until('minute'))
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('minute', time), 1, (flag = 'N')::int,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag = 'N' THEN value END,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag <> 'N' THEN flag END
    FROM readings WHERE time >= (SELECT readings_rollup_until('minute'))
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
    FROM readings_1h_rollup WHERE bucket < (SELECT readings_rollup_until('hour'))
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('hour', bucket), sample_count, valid_count, value_sum,
           value_min, value_max, abnormal_flag
    FROM readings_1m_rollup
    WHERE bucket >= (SELECT readings_rollup_until('hour')) AND bucket < (SELECT readings_rollup_until('minute'))
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('hour', time), 1, (flag = 'N')::int,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag = 'N' THEN value END,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag <> 'N' THEN flag END
    FROM readings WHERE time >= (SELECT readings_rollup_until('minute'))
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
    FROM readings_1d_rollup WHERE bucket < (SELECT readings_rollup_until('day'))
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('day', bucket), sample_count, valid_count, value_sum,
           value_min, value_max, abnormal_flag
    FROM readings_1h_rollup
    WHERE bucket >= (SELECT readings_rollup_until('day')) AND bucket < (SELECT readings_rollup_until('hour'))
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('day', bucket), sample_count, valid_count, value_sum,
           value_min, value_max, abnormal_flag
    FROM readings_1m_rollup
    WHERE bucket >= (SELECT readings_rollup_until('hour')) AND bucket < (SELECT readings_rollup_until('minute'))
    UNION ALL
    SELECT device_id, pollutant, basis, readings_rollup_bucket('day', time), 1, (flag = 'N')::int,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag = 'N' THEN value END,
           CASE WHEN flag = 'N' THEN value END, CASE WHEN flag <> 'N' THEN flag END
    FROM readings WHERE time >= (SELECT readings_rollup_until('minute'))
)
SELECT device_id, pollutant, basis, bucket, sum(value_sum) / nullif(sum(valid_count), 0) AS value_avg,
       min(value_min) AS value_min, max(value_max) AS value_max, sum(sample_count)::bigint AS sample_count,
       sum(valid_count)::bigint AS valid_count,
       readings_rollup_flag(pollutant, sum(sample_count)::bigint, sum(valid_count)::bigint, min(abnormal_flag)) AS flag
FROM parts GROUP BY device_id, pollutant, basis, bucket;
