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
FROM {source}
WHERE basis = 'instant' AND ({rows})
GROUP BY device_id, pollutant, bucket
"""


def rollup_sql(rows: str) -> str:
    """The roll-up (device_id, pollutant, bucket, then ROLLUP_COLUMNS_SQL) of the readings matching `rows`."""
    return _ROLLUP_SQL.format(bucket=BUCKET_SQL, columns=ROLLUP_COLUMNS_SQL, rows=rows, source="readings_reviewed")


# One series' active marks over a period as time multiranges, all of them (a) and per flag letter (the letters
# of readings_reviewed, migration 0024), for a WITH clause. Parameters: device_id, pollutant, since, until.
SERIES_MARKS_CTE = """series_marks AS (
    SELECT range_agg(tstzrange(k.start_at, k.end_at)) AS a,
           range_agg(tstzrange(k.start_at, k.end_at)) FILTER (WHERE k.reason = 'maintenance') AS m,
           range_agg(tstzrange(k.start_at, k.end_at)) FILTER (WHERE k.reason = 'calibration') AS c
    FROM data_marks k
    WHERE k.state = 'active' AND k.device_id = %(device_id)s AND (k.pollutant IS NULL OR k.pollutant = %(pollutant)s)
      AND k.start_at < %(until)s AND k.end_at > %(since)s
)"""

# readings_reviewed's columns for one series (device_id, pollutant) whose rows match `rows` (conditions on
# readings r), the flag after review read from series_marks: containment tests of a multirange per row instead
# of the view's join on the marks' days (which cost about as much as reading the rows again); an unmarked value
# (most of them) pays one test. mark_id is 0 on a marked value: the roll-up only counts them. OFFSET 0 keeps the
# planner from inlining the subquery, which would repeat the tests for every use of `flag` in
# ROLLUP_COLUMNS_SQL (8 a row; measured slower although it allows a parallel scan).
_SERIES_SOURCE_SQL = """(
    SELECT r.time, r.device_id, r.pollutant, r.basis, r.value,
           CASE WHEN (r.time <@ g.a) IS NOT TRUE THEN r.flag WHEN r.time <@ g.m THEN 'M' WHEN r.time <@ g.c THEN 'C'
                ELSE 'D' END AS flag,
           CASE WHEN r.time <@ g.a THEN 0 END AS mark_id
    FROM readings r, series_marks g
    WHERE r.basis = 'instant' AND r.device_id = %(device_id)s AND r.pollutant = %(pollutant)s AND ({rows})
    OFFSET 0
) reviewed"""


def series_rollup_sql(rows: str, bucket: str = BUCKET_SQL) -> str:
    """The roll-up of one series' readings matching `rows` (conditions on `r.time`), after review, for a query
    whose WITH clause holds SERIES_MARKS_CTE; the same columns and rules as rollup_sql (`bucket`: the
    expression of the bucket, by default BUCKET_SQL's width and origin parameters)."""
    return _ROLLUP_SQL.format(bucket=bucket, columns=ROLLUP_COLUMNS_SQL, rows="TRUE",
                              source=_SERIES_SOURCE_SQL.format(rows=rows))


# Rows of the roll-up's columns (bucket, value_avg, value_min, value_max, sample_count, valid_count, flag) of one
# pollutant (parameter `pollutant`) merged per `bucket`, with the roll-up's rules: the mean of the valid values
# weighted by their count, the extremes, the counts summed, and the flag rolled up from the parts' flags
# (wastewater: the first abnormal letter) or counts (others: normal when 75 % of the values are).
MERGE_PARTS_SQL = """
SELECT bucket,
       sum(value_avg * valid_count) / nullif(sum(valid_count), 0) AS value_avg,
       min(value_min) AS value_min, max(value_max) AS value_max,
       sum(sample_count) AS sample_count, sum(valid_count) AS valid_count,
       CASE
           WHEN sum(sample_count - valid_count) = 0 THEN 'N'
           WHEN left(%(pollutant)s, 1) = 'w' THEN min(CASE WHEN flag <> 'N' THEN flag END)
           WHEN sum(valid_count) >= 0.75 * sum(sample_count) THEN 'N'
           ELSE 'D'
       END AS flag
FROM ({parts}) p
GROUP BY bucket
"""


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
