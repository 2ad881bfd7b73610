"""The one roll-up of instantaneous readings into hourly and daily intervals, after data review.

The columns and the flag rule are those of `readings_1h` / `readings_1d` (migration 0004): avg/min/max of
valid (flag N) values, sample and valid counts, and the rolled-up flag (wastewater codes take the first
abnormal flag; other codes are normal when at least 75 % of values are, otherwise D). The flags are those
after data review (`readings_reviewed`, migration 0024), so an active mark's values leave the means and
mark the interval, for the past as well. Reports (alerts/reports/intervals.py), exports
(dashboard/export.py) and the charts' marked buckets (dashboard/series.py) all use this SQL, not a copy.
Why not the views: on plain PostgreSQL a condition on their `bucket` column cannot use the index on time.
"""

from __future__ import annotations

from datetime import timedelta

# The views' bucket origins: UTC minutes and hours, China Standard Time days (no daylight saving).
ORIGINS: dict[str, str] = {"minute": "2000-01-01 00:00:00+00", "hour": "2000-01-01 00:00:00+00",
                           "day": "2000-01-01 00:00:00+08"}
WIDTHS: dict[str, timedelta] = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}

BUCKET_SQL = "date_bin(%(width)s, time, %(origin)s::timestamptz)"

# Aggregate columns over rows of readings_reviewed (`flag` is the flag after review). marked_count: values
# under an active mark (a cheap count: the marks themselves are looked up only for buckets that have some).
ROLLUP_COLUMNS_SQL = """
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
    END AS flag,
    count(mark_id) AS marked_count
"""

# Every interval of the instantaneous readings matching `rows` (a condition on readings_reviewed's device_id,
# pollutant and time, which reaches the readings index through the view). Parameters: width, origin.
_ROLLUP_SQL = """
SELECT device_id, pollutant, {bucket} AS bucket,{columns}
FROM readings_reviewed
WHERE basis = 'instant' AND ({rows})
GROUP BY device_id, pollutant, bucket
"""


def rollup_sql(rows: str) -> str:
    """The roll-up (device_id, pollutant, bucket, then ROLLUP_COLUMNS_SQL) of the readings matching `rows`."""
    return _ROLLUP_SQL.format(bucket=BUCKET_SQL, columns=ROLLUP_COLUMNS_SQL, rows=rows)


# The active marks touching an interval [bucket, bucket + width) of a device and pollutant, as one text
# ("#id reason: evidence; ..."), the reason words from a jsonb mapping parameter `mark_reasons`.
# Meant for a CASE on marked_count > 0, so that it runs only for the buckets that have marked values.
MARKS_OF_BUCKET_SQL = """(
    SELECT string_agg('#' || k.id || ' ' || coalesce(%(mark_reasons)s::jsonb ->> k.reason, k.reason)
                      || ': ' || k.evidence, '; ' ORDER BY k.start_at)
    FROM data_marks k
    WHERE k.state = 'active' AND k.device_id = {alias}.device_id
      AND (k.pollutant IS NULL OR k.pollutant = {alias}.pollutant)
      AND k.start_at < {alias}.bucket + %(width)s AND k.end_at > {alias}.bucket
)"""


def marks_of_bucket_sql(alias: str) -> str:
    """MARKS_OF_BUCKET_SQL for the roll-up rows named `alias`."""
    return MARKS_OF_BUCKET_SQL.format(alias=alias)
