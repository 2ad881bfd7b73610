"""ingest.reorder.InOrder: finished batches are released in number order."""

from __future__ import annotations

import pytest

from ingest.reorder import InOrder


@pytest.mark.parametrize(
    ("finished", "released"),
    [
        pytest.param([0, 1, 2], [[0], [1], [2]], id="in-order"),
        pytest.param([1, 0, 2], [[], [0, 1], [2]], id="second-first"),
        pytest.param([2, 1, 0], [[], [], [0, 1, 2]], id="reversed"),
        pytest.param([1, 3, 0, 2], [[], [], [0, 1], [2, 3]], id="two-gaps"),
    ],
)
def test_values_are_released_once_every_lower_number_finished(finished: list[int], released: list[list[int]]) -> None:
    order: InOrder[int] = InOrder()
    assert [order.add(n, n) for n in finished] == released
    assert order.waiting == 0


def test_a_number_is_finished_once() -> None:
    order: InOrder[str] = InOrder()
    order.add(1, "b")
    with pytest.raises(ValueError):
        order.add(1, "b")
    order.add(0, "a")
    with pytest.raises(ValueError):
        order.add(0, "a")
    assert order.waiting == 0
