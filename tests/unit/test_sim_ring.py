"""The ring buffer answers a resend with exactly the sequence numbers it holds."""

from __future__ import annotations

import pytest

from device_sim.ring import RingBuffer


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        pytest.param(4, 6, [4, 5, 6], id="exact-gap"),
        pytest.param(5, 5, [5], id="one-message"),
        pytest.param(0, 3, [1, 2, 3], id="before-the-first"),
        pytest.param(9, 20, [9, 10], id="past-the-last"),
        pytest.param(11, 12, [], id="never-sent"),
        pytest.param(1, 10_000_000, list(range(1, 11)), id="huge-range"),
    ],
)
def test_resend_returns_exactly_the_held_messages_in_range(first: int, last: int, expected: list[int]) -> None:
    ring = RingBuffer(100)
    for seq in range(1, 11):
        ring.put(seq, f"m{seq}".encode())
    found = ring.get_range(first, last)
    assert [s for s, _ in found] == expected
    assert all(payload == f"m{s}".encode() for s, payload in found)


def test_the_oldest_messages_leave_when_full() -> None:
    ring = RingBuffer(3)
    for seq in range(1, 6):
        ring.put(seq, b"x")
    assert [s for s, _ in ring.get_range(1, 5)] == [3, 4, 5] and len(ring) == 3
