"""Sequence gap tracking: detection, grace, retries, giving up, resets."""

from __future__ import annotations

import pytest

from ingest.gaps import GapPolicy, SeqGap, SequenceTracker

POLICY = GapPolicy(grace_seconds=2, retry_seconds=30, max_attempts=2, max_gap=100)


def tracker_after(*batches: tuple[float, list[int]]) -> SequenceTracker:
    t = SequenceTracker(POLICY)
    for now, seqs in batches:
        t.observe("D", seqs, now)
    return t


@pytest.mark.parametrize(
    ("batches", "missing"),
    [
        pytest.param([(0, [1, 2, 3])], [], id="contiguous"),
        pytest.param([(0, [1, 2, 5])], [3, 4], id="hole"),
        pytest.param([(0, [1, 2, 5]), (1, [4])], [3], id="partly-filled"),
        pytest.param([(0, [1, 5]), (1, [3, 2, 4])], [], id="filled-out-of-order"),
        pytest.param([(0, [5, 1])], [2, 3, 4], id="unordered-batch"),
        pytest.param([(0, [101])], [], id="first-seq-past-the-window-starts-tracking"),
        pytest.param([(0, [10])], list(range(1, 10)), id="first-messages-of-a-device-counting-from-1-lost"),
        pytest.param([(0, [1])], [], id="first-seq-1"),
        pytest.param([(0, [0, 1])], [], id="a-device-counting-from-0"),
        pytest.param([(0, [100])], list(range(1, 100)), id="first-seq-at-the-window"),
        pytest.param([(0, [500, 501]), (1, [1, 2])], [], id="counter-reset-backwards"),
        pytest.param([(0, [500, 501]), (1, [3, 4])], [1, 2], id="counter-reset-with-its-first-messages-lost"),
        pytest.param([(0, [1]), (1, [5000])], [], id="huge-jump-is-reset"),
        pytest.param([(0, [1, 2, 2, 3])], [], id="duplicates"),
    ],
)
def test_missing_sequence_numbers(batches: list[tuple[float, list[int]]], missing: list[int]) -> None:
    assert tracker_after(*batches).missing("D") == missing


def test_gap_is_requested_after_grace_as_one_range() -> None:
    t = tracker_after((0, [1, 2, 6]))
    assert t.due(1.0) == ([], [])
    assert t.due(2.0) == ([SeqGap("D", 3, 5, 1)], [])
    assert t.due(3.0) == ([], [])


def test_unfilled_gap_is_retried_then_abandoned() -> None:
    t = tracker_after((0, [1, 4]))
    assert t.due(2) == ([SeqGap("D", 2, 3, 1)], [])
    assert t.due(31) == ([], [])
    assert t.due(32) == ([SeqGap("D", 2, 3, 2)], [])
    assert t.due(62) == ([], [SeqGap("D", 2, 3, 2)])
    assert t.missing("D") == []


def test_partly_filled_gap_requests_only_what_is_still_missing() -> None:
    t = tracker_after((0, [1, 6]), (1, [3, 4]))
    assert t.due(2) == ([SeqGap("D", 2, 2, 1), SeqGap("D", 5, 5, 1)], [])


def test_devices_are_tracked_separately() -> None:
    t = SequenceTracker(POLICY)
    t.observe("A", [1, 3], 0)
    t.observe("B", [1, 2], 0)
    assert t.due(5) == ([SeqGap("A", 2, 2, 1)], [])


def restored(high: int, gaps: list[SeqGap], now: float = 0) -> SequenceTracker:
    t = SequenceTracker(POLICY)
    t.restore("D", high, gaps, now)
    return t


@pytest.mark.parametrize(
    ("high", "gaps", "seqs", "missing"),
    [
        pytest.param(12, [], [14], [13], id="gap-spanning-the-restart"),
        pytest.param(12, [], [13, 14], [], id="no-gap-after-restart"),
        pytest.param(11, [], [12, 14], [13], id="stale-seed-asks-only-the-unseen"),
        pytest.param(12, [SeqGap("D", 8, 9, 1)], [14], [8, 9, 13], id="open-gap-kept"),
        pytest.param(12, [SeqGap("D", 8, 9, 1)], [9], [8], id="open-gap-partly-filled"),
        pytest.param(5, [SeqGap("D", 8, 9, 0)], [11], [8, 9], id="open-gap-above-stale-seed"),
        pytest.param(12, [SeqGap("D", 1, 1000, 0)], [13], [], id="open-gap-too-big-dropped"),
        pytest.param(5000, [], [3], [1, 2], id="counter-reset-below-seed-asks-its-first-messages"),
        pytest.param(5000, [SeqGap("D", 4990, 4991, 0)], [1], [], id="counter-reset-drops-open-gaps"),
        pytest.param(12, [], [10_000], [], id="huge-jump-from-seed-is-reset"),
    ],
)
def test_restored_tracking(high: int, gaps: list[SeqGap], seqs: list[int], missing: list[int]) -> None:
    t = restored(high, gaps)
    t.observe("D", seqs, 1)
    assert t.missing("D") == missing


def test_restore_does_not_override_messages_seen_since_the_start() -> None:
    t = tracker_after((0, [120, 122]))
    t.restore("D", 5, [SeqGap("D", 8, 8, 0)], 1)
    assert t.missing("D") == [121]


def test_restored_gap_is_asked_after_grace_and_keeps_counting_attempts() -> None:
    t = restored(10, [SeqGap("D", 8, 9, 1)], now=100)
    assert t.due(101) == ([], [])
    assert t.due(102) == ([SeqGap("D", 8, 9, 2)], [])
    assert t.due(132) == ([], [SeqGap("D", 8, 9, 2)])


@pytest.mark.parametrize(
    ("batches", "due_at", "gaps"),
    [
        pytest.param([(0, [1, 2, 3])], None, [], id="none"),
        pytest.param([(0, [1, 4, 7])], None, [SeqGap("D", 2, 3, 0), SeqGap("D", 5, 6, 0)], id="two-runs"),
        pytest.param([(0, [1, 4])], 2.0, [SeqGap("D", 2, 3, 1)], id="requested-once"),
        pytest.param([(0, [1, 3]), (1, [5])], 2.0, [SeqGap("D", 2, 2, 1), SeqGap("D", 4, 4, 0)],
                     id="each-run-keeps-its-attempts"),
    ],
)
def test_open_gaps(batches: list[tuple[float, list[int]]], due_at: float | None, gaps: list[SeqGap]) -> None:
    t = tracker_after(*batches)
    if due_at is not None:
        t.due(due_at)
    assert t.open_gaps() == gaps


def test_open_gaps_round_trip_through_restore() -> None:
    t = tracker_after((0, [1, 4, 9]))
    t.due(2)
    again = restored(9, t.open_gaps())
    assert again.missing("D") == t.missing("D") and again.open_gaps() == t.open_gaps()
