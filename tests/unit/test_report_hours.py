"""An hourly row of a report is the interval mean it judges, with its validity and whether it breaks the limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.reports.model import IntervalMean, LimitFacts
from alerts.reports.series import hour_row

HOUR = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
LIMIT = LimitFacts(
    limit_id=1, scheme="discharge", basis="hour", direction="upper", lower=None, upper=0.1, warning_ratio=0.8,
    severe_multiple=3.0, level2_lower=None, level2_upper=None, unit="mg/L", source="GB 21900-2008 表3",
    valid_from=HOUR, valid_to=None,
)


@pytest.mark.parametrize(
    ("pollutant", "mean", "valid_count", "flag", "limit", "valid", "over_limit"),
    [
        pytest.param("w20117", 0.23, 6, "N", LIMIT, True, True, id="valid-water-hour-over-the-limit"),
        pytest.param("w20117", 0.05, 6, "N", LIMIT, True, False, id="valid-water-hour-below"),
        pytest.param("w20117", 0.23, 4, "D", LIMIT, True, True, id="water-hour-with-some-faults-still-counts"),
        pytest.param("a21026", 230.0, 40, "D", LIMIT, False, False, id="gas-hour-rolled-up-d-is-not-judged"),
        pytest.param("w20117", None, 0, "D", LIMIT, False, False, id="no-valid-value"),
        pytest.param("w20117", 0.23, 6, "N", None, True, False, id="no-limit-never-over"),
    ],
)
def test_hour_row_judges_the_interval_it_carries(
    pollutant: str, mean: float | None, valid_count: int, flag: str, limit: LimitFacts | None, valid: bool,
    over_limit: bool,
) -> None:
    interval = IntervalMean(HOUR, mean, mean, mean, 6, valid_count, flag)
    row = hour_row(interval, pollutant, limit)
    assert (row.interval, row.hour_start, row.valid, row.over_limit) == (interval, HOUR, valid, over_limit)
