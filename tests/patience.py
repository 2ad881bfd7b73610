"""How long a test waits for a signal: a base deadline stretched on a busy machine, decided in this one place.

Tests wait for signals (a row, a message, a health answer), so a longer deadline costs time only when the
test fails. The factor is ENVMON_TEST_SLOWNESS when CI sets it, else the measured 1-minute load per CPU
(a 2-core runner at load 18 waits 9x longer), never below 1 and at most MAX_SLOWNESS.
"""

from __future__ import annotations

import os

SLOWNESS_ENV = "ENVMON_TEST_SLOWNESS"
MAX_SLOWNESS = 10.0  # beyond ~10x the per-test timeout (pyproject) would cut in before most deadlines


def slowness() -> float:
    """The factor by which this machine is slower than an idle one (>= 1)."""
    configured = os.environ.get(SLOWNESS_ENV, "").strip()
    if configured:
        return max(1.0, float(configured))
    load_per_cpu = os.getloadavg()[0] / (os.cpu_count() or 1)
    return min(MAX_SLOWNESS, max(1.0, load_per_cpu))


def patience(seconds: float) -> float:
    """`seconds` (enough on an idle machine) stretched by the machine's slowness."""
    return seconds * slowness()
