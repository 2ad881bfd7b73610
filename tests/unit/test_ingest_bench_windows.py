"""The ingest benchmark's latency histograms and 5-minute windows (the sustained-run figures of issue 20)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.ingest import _HIST_MS, _Latency, histogram_percentile_ms, windows


def _hist(latencies_ms: list[int]) -> np.ndarray:
    hist = np.zeros(_HIST_MS + 1, np.int64)
    np.add.at(hist, latencies_ms, 1)
    return hist


@pytest.mark.parametrize(
    ("latencies_ms", "q", "expected"),
    [
        pytest.param([], 0.99, math.nan, id="empty"),
        pytest.param([5], 0.5, 6.0, id="one-message-upper-edge-of-its-millisecond"),
        pytest.param(list(range(100)), 0.5, 50.0, id="median"),
        pytest.param(list(range(100)), 0.99, 99.0, id="p99"),
        pytest.param([1] * 99 + [1500], 0.99, 2.0, id="one-slow-of-a-hundred-is-above-p99"),
        pytest.param([1] * 98 + [1500] * 2, 0.99, 1501.0, id="two-slow-of-a-hundred-are-p99"),
    ],
)
def test_histogram_percentile(latencies_ms: list[int], q: float, expected: float) -> None:
    got = histogram_percentile_ms(_hist(latencies_ms), q)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_windows_give_each_five_minutes_its_rate_and_p99_and_merge_processes() -> None:
    started = 6_000.0  # a whole minute, so minutes and windows line up
    a, b = _Latency(), _Latency()
    for s in range(600):  # ten minutes: 1,000 readings/s, then 800
        a.readings_by_second[int(started) + s] = 600 if s < 300 else 500
        b.readings_by_second[int(started) + s] = 400 if s < 300 else 300
    for m in range(10):  # the second window's minutes are slow
        a.by_minute[int(started) // 60 + m] = _hist([10] * 99 + [900 if m >= 5 else 20])
    merged = _Latency()
    merged.merge(a.outcome())
    merged.merge({**b.outcome(), "by_minute": {}})
    spans = windows(merged, started, publish_seconds=650)
    assert spans == [
        {"from_s": 0, "readings_per_s": 1000, "p99_ms": 11.0},
        {"from_s": 300, "readings_per_s": 800, "p99_ms": 11.0},
    ]
    assert merged.percentile_ms(0.999) == 901.0
