"""The report benchmark's percentile (nearest rank), which decides whether p95 meets the 2 s target."""

from __future__ import annotations

import pytest

from benchmarks.report import percentile


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        pytest.param([1.0], 0.95, 1.0, id="one-value"),
        pytest.param([float(i) for i in range(1, 21)], 0.95, 19.0, id="twenty-values-p95-is-19th"),
        pytest.param([float(i) for i in range(1, 21)], 0.5, 10.0, id="twenty-values-p50-is-10th"),
        pytest.param([3.0, 1.0, 2.0], 0.95, 3.0, id="unsorted-input"),
        pytest.param([float(i) for i in range(1, 101)], 0.95, 95.0, id="hundred-values"),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], share: float, expected: float) -> None:
    assert percentile(values, share) == expected
