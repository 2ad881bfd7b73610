"""Simulated time: real time, accelerated (`speed` simulated seconds per real second), or backfill."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SimClock:
    """Maps simulated epoch seconds to real waiting; `speed = inf` is backfill (never waits)."""

    start_s: float
    speed: float = 1.0
    monotonic: Callable[[], float] = time.monotonic
    real_start: float = field(default=0.0)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError("speed must be positive")
        self.real_start = self.monotonic()

    @property
    def is_backfill(self) -> bool:
        """True when simulated time runs as fast as the machine allows."""
        return math.isinf(self.speed)

    def now_s(self) -> float:
        """The simulated time now (for backfill: the start; the engine tracks progress itself)."""
        if self.is_backfill:
            return self.start_s
        return self.start_s + (self.monotonic() - self.real_start) * self.speed

    def wait_seconds(self, sim_s: float) -> float:
        """Real seconds to wait until simulated time `sim_s` (0 when it is past or in backfill)."""
        if self.is_backfill:
            return 0.0
        return max(0.0, (sim_s - self.start_s) / self.speed - (self.monotonic() - self.real_start))
