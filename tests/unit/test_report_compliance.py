"""Compliance report periods: local days and calendar months, and which one is due."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from alerts.reports.compliance import last_complete_period, period_of
from alerts.reports.errors import ReportError


@pytest.mark.parametrize(
    ("kind", "day", "period"),
    [
        pytest.param("daily", date(2026, 11, 21), (date(2026, 11, 21), date(2026, 11, 22)), id="a-day"),
        pytest.param("daily", date(2026, 12, 31), (date(2026, 12, 31), date(2027, 1, 1)), id="new-year"),
        pytest.param("monthly", date(2026, 11, 22), (date(2026, 11, 1), date(2026, 12, 1)), id="november"),
        pytest.param("monthly", date(2026, 12, 31), (date(2026, 12, 1), date(2027, 1, 1)), id="december"),
        pytest.param("monthly", date(2028, 2, 29), (date(2028, 2, 1), date(2028, 3, 1)), id="leap-february"),
    ],
)
def test_period_of(kind: str, day: date, period: tuple[date, date]) -> None:
    assert period_of(kind, day) == period


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ReportError):
        period_of("weekly", date(2026, 11, 22))


@pytest.mark.parametrize(
    ("kind", "now", "start"),
    [
        pytest.param("daily", datetime(2026, 11, 22, 6, 0, tzinfo=UTC), date(2026, 11, 21), id="yesterday"),
        # 16:30 UTC is already 00:30 on the 23rd in Shanghai: the 22nd has ended there.
        pytest.param("daily", datetime(2026, 11, 22, 16, 30, tzinfo=UTC), date(2026, 11, 22), id="local-midnight-passed"),
        pytest.param("monthly", datetime(2026, 11, 22, 6, 0, tzinfo=UTC), date(2026, 10, 1), id="last-month"),
        pytest.param("monthly", datetime(2026, 12, 31, 16, 1, tzinfo=UTC), date(2026, 12, 1), id="local-new-year"),
    ],
)
def test_last_complete_period_is_in_local_time(kind: str, now: datetime, start: date) -> None:
    assert last_complete_period(kind, now, "Asia/Shanghai")[0] == start
