"""Backfill pacing waits for a transport's backlog, but never past `stop` (a stuck transport must not hang the demo)."""

from __future__ import annotations

import asyncio
import math

from device_sim.clock import SimClock
from device_sim.engine import BACKFILL_BACKLOG, Simulation
from device_sim.plans import build_plans
from device_sim.samples import Action, Sample
from device_sim.scenario import Scenario
from device_sim.stats import Stats
from envmon.registry.load import load_registry_file
from tests.conftest import EXAMPLE_REGISTRY


class StuckLink:
    """A transport whose backlog never drains; it sets `stop` once the engine has waited on it a few times."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.asked = 0
        self.delivered = 0

    def deliver(self, action: Action, sample: Sample) -> None:
        self.delivered += 1

    def malformed(self, sample: Sample, count: int) -> None:
        pass

    def set_online(self, online: bool) -> None:
        pass

    def backlog(self) -> int:
        self.asked += 1
        if self.asked == 3:
            self.stop.set()
        return BACKFILL_BACKLOG + 1


def test_backfill_pacing_ends_on_stop_even_when_a_transport_is_stuck() -> None:
    plans = build_plans(load_registry_file(EXAMPLE_REGISTRY), 0, ("310120EP001W01",))

    async def run() -> StuckLink:
        stop = asyncio.Event()
        link = StuckLink(stop)
        simulation = Simulation(plans, Scenario(name="quiet"), [link], SimClock(0.0, math.inf), Stats(),
                                end_s=86400.0)
        await asyncio.wait_for(simulation.run(stop), 30)  # the old pacing loop never looked at `stop`
        return link

    link = asyncio.run(run())
    assert link.asked >= 3 and link.delivered == 64  # stopped at the first pacing point


class _Busy:
    """A runner that keeps sending, slower than planned: only the wall-time cap ends its backfill."""

    def __init__(self) -> None:
        self.sent = 0

    @property
    def stats(self) -> _Busy:
        return self

    def snapshot(self) -> dict[str, int]:
        self.sent += 1
        return {"messages": self.sent}


def test_a_backfill_slower_than_planned_ends_after_its_wall_time_cap_and_says_so() -> None:
    from device_sim.backfill import _stop_when_stalled

    said: list[str] = []

    async def run() -> bool:
        stop, inner = asyncio.Event(), asyncio.Event()
        await asyncio.wait_for(_stop_when_stalled(_Busy(), stop, inner, said.append, max_seconds=2), 10)  # type: ignore[arg-type]
        return inner.is_set() and not stop.is_set()

    assert asyncio.run(run())
    assert any("ending it here" in line for line in said)
