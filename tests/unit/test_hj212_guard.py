"""The HJ 212 login back-off: per connection, per address, doubling windows, forgetting."""

from __future__ import annotations

import pytest

from ingest.hj212_guard import AuthGuard, AuthPolicy, Verdict

POLICY = AuthPolicy(max_failures_per_connection=3, max_failures_per_address=5, backoff_seconds=5.0,
                    backoff_max_seconds=60.0, forget_seconds=600.0)


def verdicts(guard: AuthGuard, address: str, per_connection: list[int], now: float) -> list[Verdict]:
    """Feed failures: per_connection[i] failures on the i-th connection, all at `now`."""
    out: list[Verdict] = []
    for count in per_connection:
        out.extend(guard.on_failure(address, n, now) for n in range(1, count + 1))
    return out


A, C, B = Verdict.ANSWER, Verdict.CLOSE, Verdict.BLOCK


@pytest.mark.parametrize(
    ("per_connection", "expected"),
    [
        pytest.param([1], [A], id="one-failure-answered"),
        pytest.param([3], [A, A, C], id="third-failure-closes-the-connection"),
        pytest.param([3, 2], [A, A, C, A, B], id="fifth-failure-from-the-address-blocks"),
        pytest.param([1, 1, 1, 1, 1], [A, A, A, A, B], id="one-failure-per-connection-still-blocks"),
    ],
)
def test_failures_close_then_block(per_connection: list[int], expected: list[Verdict]) -> None:
    assert verdicts(AuthGuard(POLICY), "192.0.2.1", per_connection, 100.0) == expected


@pytest.mark.parametrize(
    ("blocks", "window"),
    [
        pytest.param(1, 5.0, id="first"),
        pytest.param(2, 10.0, id="doubles"),
        pytest.param(4, 40.0, id="doubles-again"),
        pytest.param(5, 60.0, id="capped"),
        pytest.param(500, 60.0, id="capped-without-overflow"),
    ],
)
def test_block_windows_double_up_to_the_maximum(blocks: int, window: float) -> None:
    assert AuthGuard(POLICY).window_seconds(blocks) == window


def test_a_blocked_address_waits_its_window_and_the_next_block_is_longer() -> None:
    guard = AuthGuard(POLICY)
    assert verdicts(guard, "192.0.2.1", [5], 100.0)[-1] is B
    assert guard.blocked_seconds("192.0.2.1", 100.0) == 5.0
    assert guard.blocked_seconds("192.0.2.1", 104.0) == 1.0
    assert guard.blocked_seconds("192.0.2.2", 100.0) == 0.0, "other addresses are not blocked"
    assert guard.blocked_seconds("192.0.2.1", 105.0) == 0.0
    assert verdicts(guard, "192.0.2.1", [5], 105.0)[-1] is B
    assert guard.blocked_seconds("192.0.2.1", 105.0) == 10.0


def test_a_quiet_address_starts_afresh() -> None:
    guard = AuthGuard(POLICY)
    verdicts(guard, "192.0.2.1", [5, 4], 100.0)
    assert verdicts(guard, "192.0.2.1", [5], 100.0 + 601.0)[-1] is B
    assert guard.blocked_seconds("192.0.2.1", 701.0) == 5.0, "the first window again"


def test_memory_stays_bounded_and_blocked_addresses_are_kept() -> None:
    guard = AuthGuard(AuthPolicy(max_failures_per_address=2, max_addresses=10))
    verdicts(guard, "198.51.100.1", [2], 0.0)
    for n in range(100):
        guard.on_failure(f"203.0.113.{n}", 1, 1.0 + n / 1000)
    assert len(guard._addresses) <= 10
    assert guard.blocked_seconds("198.51.100.1", 2.0) > 0
