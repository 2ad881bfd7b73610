"""The rows the rules take: known rows only, in (series, time) order, columns kept together."""

from __future__ import annotations

import numpy as np
import pytest

from alerts.rules.rows import SortedRows
from envmon.columns import ReadingColumns


def _batch(time_s: list[float], value: list[float]) -> ReadingColumns:
    n = len(time_s)
    time_us = (np.array(time_s) * 1e6).astype(np.int64)
    return ReadingColumns(("w01018",), time_us, np.ones(n, dtype=np.int32), np.zeros(n, dtype=np.int16),
                          np.arange(n, dtype=np.int8), np.array(value), np.full(n, ord("N"), dtype=np.uint8),
                          np.arange(n, dtype=np.int64), time_us)


@pytest.mark.parametrize(
    ("series", "time_s", "known", "want_series", "want_time_s"),
    [
        pytest.param([3, 1, 3, 1], [5.0, 9.0, 2.0, 1.0], [True] * 4, [1, 1, 3, 3], [1.0, 9.0, 2.0, 5.0],
                     id="by-series-then-time"),
        pytest.param([2, 7, 2], [4.0, 1.0, 3.0], [True, False, True], [2, 2], [3.0, 4.0], id="unknown-rows-dropped"),
        pytest.param([5, 5], [1.0, 1.0], [True, True], [5, 5], [1.0, 1.0], id="equal-times-kept"),
    ],
)
def test_rows_come_in_series_then_time_order(
    series: list[int], time_s: list[float], known: list[bool], want_series: list[int], want_time_s: list[float]
) -> None:
    values = [10.0 * t + s for s, t in zip(series, time_s, strict=True)]
    mask = np.array(known)
    rows = SortedRows.of(_batch(time_s, values), mask, np.array(series, dtype=np.int64)[mask])
    assert rows.series.tolist() == want_series
    assert rows.time_s.tolist() == want_time_s
    # Each value travels with its own row.
    assert rows.value.tolist() == [10.0 * t + s for s, t in zip(want_series, want_time_s, strict=True)]


def test_take_keeps_the_chosen_rows_of_every_column() -> None:
    rows = SortedRows.of(_batch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]), np.ones(3, dtype=bool), np.zeros(3, dtype=np.int64))
    taken = rows.take(np.array([True, False, True]))
    assert (taken.time_s.tolist(), taken.value.tolist(), taken.basis.tolist()) == ([1.0, 3.0], [4.0, 6.0], [0, 2])
