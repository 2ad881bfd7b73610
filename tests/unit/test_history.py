"""Which missing HJ 212 minute/hour data to request again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.history import HistoryTracker

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("basis", "times", "expected"),
    [
        pytest.param("minute", [T0, T0 + M], None, id="consecutive-minutes"),
        pytest.param("minute", [T0, T0 + 4 * M], (T0 + M, T0 + 3 * M), id="three-minutes-missing"),
        pytest.param("hour", [T0, T0 + 2 * H], (T0 + H, T0 + H), id="one-hour-missing"),
        pytest.param("minute", [T0 + 5 * M, T0], None, id="older-data-is-a-resend"),
        pytest.param("minute", [T0, T0], None, id="duplicate"),
        pytest.param("minute", [T0, T0 + timedelta(days=3)], None, id="too-long-offline"),
        pytest.param("instant", [T0, T0 + H], None, id="real-time-data-not-tracked"),
        pytest.param("minute", [T0], None, id="first-data"),
    ],
)
def test_skipped_window(basis: str, times: list[datetime], expected: tuple[datetime, datetime] | None) -> None:
    tracker = HistoryTracker()
    results = [tracker.observe("L1", basis, t) for t in times]
    assert results[-1] == expected


def test_loggers_and_bases_are_separate() -> None:
    tracker = HistoryTracker()
    tracker.observe("L1", "minute", T0)
    tracker.observe("L2", "minute", T0 + 10 * M)
    tracker.observe("L1", "hour", T0 + 10 * H)
    assert tracker.observe("L1", "minute", T0 + M) is None
