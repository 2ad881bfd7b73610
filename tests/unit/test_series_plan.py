"""Which query serves a chart series: the aggregate (no marks); where a finer aggregate exists, the marked buckets
merged from its unmarked rows and the marked finer buckets rolled up again; otherwise the aggregate with its
marked buckets rolled up again, or one pass over the range after review when marks touch half of the buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.series import plan

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(("marked", "data_days", "expected"), [
    pytest.param(0, 30, "aggregate", id="no-mark-reads-the-aggregate-exactly"),
    pytest.param(3, None, "aggregate", id="no-data-in-range"),
    pytest.param(1, 365, "few_marked", id="one-marked-day-of-a-year"),
    pytest.param(14, 30, "few_marked", id="under-half-of-the-buckets-with-data"),
    pytest.param(15, 30, "mostly_marked", id="half-of-the-buckets-with-data"),
    pytest.param(30, 30, "mostly_marked", id="a-mark-every-day-of-the-month-benchmark"),
    pytest.param(30, 365, "few_marked", id="a-mark-every-day-of-one-month-in-a-year"),
])
def test_series_plan_by_share_of_marked_buckets(marked: int, data_days: int | None, expected: str) -> None:
    since = None if data_days is None else NOW - data_days * DAY + timedelta(hours=1)
    assert plan(marked, since, NOW, DAY) == expected


@pytest.mark.parametrize(("marked", "data_days", "expected"), [
    pytest.param(0, 30, "aggregate", id="no-mark-still-reads-the-aggregate-exactly"),
    pytest.param(30, 30, "composed", id="a-mark-every-day-merged-from-the-hours"),
    pytest.param(1, 365, "composed", id="one-marked-day-merged-from-the-hours"),
])
def test_a_range_with_a_finer_aggregate_merges_its_marked_buckets(marked: int, data_days: int, expected: str) -> None:
    since = NOW - data_days * DAY + timedelta(hours=1)
    assert plan(marked, since, NOW, DAY, composable=True) == expected
