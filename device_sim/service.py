"""The simulator as a component of `envmon demo` (see envmon/runtime.py): the district in real time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from device_sim.backfill import BUDGET_SECONDS, run_backfill, until_stored
from device_sim.runner import RunOptions, SimRunner
from device_sim.stats import summary_lines
from envmon.settings import Settings

log = logging.getLogger(__name__)


class SimService:
    """Drives every device of a registry (MQTT and HJ 212) with a scenario until stopped."""

    name = "sim"

    def __init__(self, settings: Settings, *, registry_path: Path, scenario: str = "demo", speed: float = 1.0,
                 seed: int = 0, start_delay_seconds: float = 2.0, backfill: bool = False,
                 say: Callable[[str], None] | None = None, stored: Callable[[], int] | None = None,
                 backfill_seconds: float = BUDGET_SECONDS) -> None:
        options = RunOptions(registry_path=registry_path, scenario=scenario, seed=seed, speed=speed)
        self.runner = SimRunner(settings, options)
        # In the demo every component starts at once: give ingest time to subscribe and load the registry.
        self.start_delay_seconds = start_delay_seconds
        self.settings = settings
        self.registry_path = registry_path
        self.backfill = backfill  # a week of history through the real transports before going live
        self.backfill_seconds = backfill_seconds  # about how long it may take
        self.say = say
        # Readings the platform has stored so far (the demo: ingest's counter): paces the backfill to what ingest
        # stores, and going live waits for it (the broker acknowledges a device's messages before they are stored).
        self.stored = stored
        self.live = asyncio.Event()  # set when the district reports in real time (after the backfill, if any)

    async def run(self, stop: asyncio.Event) -> None:
        """Simulate until `stop` is set (a scenario that ends early leaves the devices quiet)."""
        log.info("simulator: %d devices, scenario %s", len(self.runner.plans), self.runner.scenario.name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.start_delay_seconds)
        if stop.is_set():
            return
        if self.backfill:
            result = await run_backfill(self.settings, self.registry_path, stop, say=self.say, stored=self.stored,
                                        budget_seconds=self.backfill_seconds)
            if self.stored and not stop.is_set():
                await until_stored(self.stored, result, stop, say=self.say)
            if stop.is_set():
                return
            if self.say:
                self.say("  live       the district now reports in real time")
        self.live.set()
        stats = await self.runner.run(stop)
        for line in summary_lines(stats):
            log.info("simulator: %s", line)
        await stop.wait()
