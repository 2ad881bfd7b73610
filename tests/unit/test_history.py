"""Which missing HJ 212 minute/hour/day data to request again, until it came, across a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.history import HistoryPolicy, HistoryRequest, HistoryTracker, OpenWindow

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
S = timedelta(seconds=1)


def _requested(tracker: HistoryTracker, device: str, now: datetime) -> tuple[datetime, datetime, int] | None:
    requests, _ = tracker.due(device, now)
    return (requests[0].begin, requests[0].end, requests[0].attempt) if requests else None


@pytest.mark.parametrize(
    ("basis", "times", "expected"),
    [
        pytest.param("minute", [T0, T0 + M], None, id="consecutive-minutes"),
        pytest.param("minute", [T0, T0 + 4 * M], (T0 + M, T0 + 3 * M, 1), id="three-minutes-missing"),
        pytest.param("hour", [T0, T0 + 2 * H], (T0 + H, T0 + H, 1), id="one-hour-missing"),
        pytest.param("day", [T0, T0 + 3 * D], (T0 + D, T0 + 2 * D, 1), id="two-days-missing"),
        pytest.param("minute", [T0 + 5 * M, T0], None, id="older-data-is-a-resend"),
        pytest.param("minute", [T0, T0], None, id="duplicate"),
        pytest.param("minute", [T0, T0 + timedelta(days=3)], None, id="too-long-offline"),
        pytest.param("hour", [T0, T0 + timedelta(days=3)], (T0 + H, T0 + timedelta(days=3) - H, 1),
                     id="hours-kept-longer-than-minutes"),
        pytest.param("instant", [T0, T0 + H], None, id="real-time-data-not-tracked"),
        pytest.param("minute", [T0], None, id="first-data"),
    ],
)
def test_skipped_window(basis: str, times: list[datetime], expected: tuple[datetime, datetime, int] | None) -> None:
    tracker = HistoryTracker()
    for t in times:
        tracker.observe("L1", basis, t, NOW)
    assert _requested(tracker, "L1", NOW) == expected


def test_loggers_and_bases_are_separate() -> None:
    tracker = HistoryTracker()
    tracker.observe("L1", "minute", T0, NOW)
    tracker.observe("L2", "minute", T0 + 10 * M, NOW)
    tracker.observe("L1", "hour", T0 + 10 * H, NOW)
    tracker.observe("L1", "minute", T0 + M, NOW)
    assert tracker.due("L1", NOW) == ([], [])


@pytest.mark.parametrize(
    ("after", "fills", "expected"),
    [
        pytest.param(S, [], None, id="rate-limited-per-logger"),
        pytest.param(299 * S, [], None, id="not-before-the-retry-interval"),
        pytest.param(300 * S, [], (T0 + M, T0 + 3 * M, 2), id="asked-again-after-the-retry-interval"),
        pytest.param(300 * S, [T0 + M], (T0 + 2 * M, T0 + 3 * M, 2), id="only-what-is-still-missing"),
        pytest.param(300 * S, [T0 + M, T0 + 2 * M, T0 + 3 * M], None, id="filled-window-is-closed"),
    ],
)
def test_retry(after: timedelta, fills: list[datetime], expected: tuple[datetime, datetime, int] | None) -> None:
    tracker = HistoryTracker()
    tracker.observe("L1", "minute", T0, NOW)
    tracker.observe("L1", "minute", T0 + 4 * M, NOW)
    assert _requested(tracker, "L1", NOW) == (T0 + M, T0 + 3 * M, 1)
    tracker.filled("L1", "minute", fills, NOW + after)
    assert _requested(tracker, "L1", NOW + after) == expected


def test_filled_window_is_reported_closed_once() -> None:
    tracker = HistoryTracker()
    tracker.observe("L1", "hour", T0, NOW)
    tracker.observe("L1", "hour", T0 + 2 * H, NOW)
    first = tracker.filled("L1", "hour", [T0 + H], NOW)
    again = tracker.filled("L1", "hour", [T0 + H], NOW)
    assert [(c.kind, c.begin, c.end) for c in first] == [("filled", T0 + H, T0 + H)]
    assert again == [] and tracker.windows("L1") == []


def test_abandoned_after_max_attempts() -> None:
    tracker = HistoryTracker(HistoryPolicy(max_attempts=2, retry_seconds=10))
    tracker.observe("L1", "minute", T0, NOW)
    tracker.observe("L1", "minute", T0 + 2 * M, NOW)
    attempts = [_requested(tracker, "L1", NOW + i * 10 * S) for i in range(2)]
    requests, changes = tracker.due("L1", NOW + 20 * S)
    assert [a[2] if a else None for a in attempts] == [1, 2]
    assert requests == [] and [c.kind for c in changes] == ["abandoned"]
    assert tracker.windows("L1") == []


def test_at_most_max_open_windows_per_logger_the_oldest_gives_way() -> None:
    tracker = HistoryTracker(HistoryPolicy(max_open_per_logger=2))
    changes = []
    for i in range(4):
        changes += tracker.observe("L1", "minute", T0 + 2 * i * M, NOW)
    assert [c.kind for c in changes] == ["opened", "opened", "opened", "abandoned"]
    assert [w[1] for w in tracker.windows("L1")] == [T0 + 3 * M, T0 + 5 * M]


@pytest.mark.parametrize(
    ("last", "stored", "upload", "expected"),
    [
        pytest.param(T0, [], T0 + 5 * M, (T0 + M, T0 + 4 * M, 1), id="gap-spanning-the-restart"),
        pytest.param(None, [], T0 + 5 * M, None, id="nothing-stored-nothing-known"),
        pytest.param(T0 + 4 * M, [OpenWindow("L1", "minute", T0 + M, T0 + 3 * M, 1, frozenset({T0 + 2 * M}))],
                     T0 + 5 * M, (T0 + 2 * M, T0 + 2 * M, 2), id="open-window-asked-again-attempts-counted"),
        pytest.param(T0 + 4 * M, [OpenWindow("L1", "minute", T0 + M, T0 + 3 * M, 3, frozenset({T0 + 2 * M}))],
                     T0 + 5 * M, None, id="attempts-used-up-before-the-restart"),
        pytest.param(T0 + 4 * M, [OpenWindow("L1", "minute", T0 + M, T0 + 3 * M, 1, frozenset())],
                     T0 + 5 * M, None, id="filled-before-the-crash"),
    ],
)
def test_restore(last: datetime | None, stored: list[OpenWindow], upload: datetime,
                 expected: tuple[datetime, datetime, int] | None) -> None:
    tracker = HistoryTracker()
    tracker.restore("L1", "minute", last, stored, NOW)
    tracker.observe("L1", "minute", upload, NOW)
    assert _requested(tracker, "L1", NOW) == expected


@pytest.mark.parametrize(
    ("window_end", "kind"),
    [
        pytest.param(T0 + 3 * M, "filled", id="nothing-missing"),
        pytest.param(NOW - timedelta(days=3), "expired", id="older-than-loggers-keep"),
    ],
)
def test_restore_closes_stale_windows(window_end: datetime, kind: str) -> None:
    missing = frozenset() if kind == "filled" else frozenset({window_end})
    stored = OpenWindow("L1", "minute", window_end - 2 * M, window_end, 1, missing)
    changes = HistoryTracker().restore("L1", "minute", T0, [stored], NOW)
    assert [(c.kind, c.begin) for c in changes] == [(kind, window_end - 2 * M)]


def test_restore_does_not_override_what_was_seen_since_the_start() -> None:
    tracker = HistoryTracker()
    tracker.observe("L1", "minute", T0 + 10 * M, NOW)
    tracker.restore("L1", "minute", T0, [], NOW)
    tracker.observe("L1", "minute", T0 + 11 * M, NOW)
    assert tracker.due("L1", NOW) == ([], [])


def test_request_names_its_command() -> None:
    assert [HistoryRequest("L1", b, T0, T0, 1).cn for b in ("minute", "hour", "day")] == ["2051", "2061", "2031"]
