"""Sequence gap tracking: detection, grace, retries, giving up, resets."""

from __future__ import annotations

import pytest

from ingest.gaps import AbandonedGap, GapPolicy, ResendRequest, SequenceTracker

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
        pytest.param([(0, [10])], [], id="first-seq-starts-tracking"),
        pytest.param([(0, [500, 501]), (1, [1, 2])], [], id="counter-reset-backwards"),
        pytest.param([(0, [1]), (1, [5000])], [], id="huge-jump-is-reset"),
        pytest.param([(0, [1, 2, 2, 3])], [], id="duplicates"),
    ],
)
def test_missing_sequence_numbers(batches: list[tuple[float, list[int]]], missing: list[int]) -> None:
    assert tracker_after(*batches).missing("D") == missing


def test_gap_is_requested_after_grace_as_one_range() -> None:
    t = tracker_after((0, [1, 2, 6]))
    assert t.due(1.0) == ([], [])
    assert t.due(2.0) == ([ResendRequest("D", 3, 5, 1)], [])
    assert t.due(3.0) == ([], [])


def test_unfilled_gap_is_retried_then_abandoned() -> None:
    t = tracker_after((0, [1, 4]))
    assert t.due(2) == ([ResendRequest("D", 2, 3, 1)], [])
    assert t.due(31) == ([], [])
    assert t.due(32) == ([ResendRequest("D", 2, 3, 2)], [])
    assert t.due(62) == ([], [AbandonedGap("D", 2, 3)])
    assert t.missing("D") == []


def test_partly_filled_gap_requests_only_what_is_still_missing() -> None:
    t = tracker_after((0, [1, 6]), (1, [3, 4]))
    assert t.due(2) == ([ResendRequest("D", 2, 2, 1), ResendRequest("D", 5, 5, 1)], [])


def test_devices_are_tracked_separately() -> None:
    t = SequenceTracker(POLICY)
    t.observe("A", [1, 3], 0)
    t.observe("B", [1, 2], 0)
    assert t.due(5) == ([ResendRequest("A", 2, 2, 1)], [])
