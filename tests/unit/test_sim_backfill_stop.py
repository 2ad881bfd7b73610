"""Backfill pacing waits for a transport's backlog, but never past `stop` (a stuck transport must not hang the demo)."""

from __future__ import annotations

import asyncio
import math

import pytest

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

    def backlog(self) -> int:
        return 0


def test_a_backfill_slower_than_planned_ends_after_its_wall_time_cap_and_says_so() -> None:
    from device_sim.backfill import _stop_when_stalled

    said: list[str] = []

    async def run() -> bool:
        stop, inner = asyncio.Event(), asyncio.Event()
        await asyncio.wait_for(_stop_when_stalled(_Busy(), stop, inner, said.append, max_seconds=2, tick_seconds=0.01), 10)  # type: ignore[arg-type]
        return inner.is_set() and not stop.is_set()

    assert asyncio.run(run())
    assert any("ending it here" in line for line in said)


class _Draining:
    """A runner whose simulation has queued its last sample (the count stands still) while the transports still
    deliver the queue, one message a look, as the HJ 212 loggers did for a minute after the district's backfill."""

    def __init__(self, queued: int, waiting: int) -> None:
        self.queued = queued
        self.waiting = waiting
        self.looks = 0

    @property
    def stats(self) -> _Draining:
        return self

    def snapshot(self) -> dict[str, int]:
        return {"messages": self.queued}

    def backlog(self) -> int:
        self.looks += 1
        self.waiting = max(0, self.waiting - 1)
        return self.waiting


def test_a_backfill_still_delivering_its_queue_is_not_taken_for_stalled() -> None:
    """The old watchdog looked at messages queued only and ended the backfill 5 s into the drain: the loggers'
    last days of history were dropped (87,133 stored against 109,774 "sent")."""
    from device_sim.backfill import _stop_when_stalled

    tick_s, stall_s = 0.01, 0.05
    runner = _Draining(queued=34_944, waiting=int(3 * stall_s / tick_s))  # three stall periods of draining
    said: list[str] = []

    async def run() -> bool:
        stop, inner = asyncio.Event(), asyncio.Event()
        watcher = asyncio.create_task(_stop_when_stalled(runner, stop, inner, said.append,  # type: ignore[arg-type]
                                                         max_seconds=3600, tick_seconds=tick_s,
                                                         stall_seconds=stall_s))
        while runner.waiting and not inner.is_set():
            await asyncio.sleep(tick_s)
        ended_early = inner.is_set()
        watcher.cancel()
        return ended_early

    assert not asyncio.run(run())
    assert runner.waiting == 0 and said == []


@pytest.mark.parametrize(("before", "after", "moved"), [
    pytest.param((10, 0), (11, 0), True, id="queued-more"),
    pytest.param((10, 500), (10, 499), True, id="delivered-some"),
    pytest.param((10, 500), (10, 500), False, id="nothing-moved"),
    pytest.param((10, 0), (10, 0), False, id="done-and-idle"),
    pytest.param((10, 400), (10, 450), False, id="backlog-grew-without-queueing"),
    pytest.param((-1, 0), (0, 0), True, id="first-look"),
])
def test_progress_is_queueing_or_delivering(before: tuple[int, int], after: tuple[int, int], moved: bool) -> None:
    from device_sim.backfill import progressed

    assert progressed(before, after) is moved


def test_a_transport_that_delivers_nothing_ends_the_backfill_after_the_stall_limit() -> None:
    from device_sim.backfill import _stop_when_stalled

    runner = _Draining(queued=100, waiting=0)
    runner.backlog = lambda: 500  # type: ignore[method-assign]  # a hung transport: 500 waiting, for ever
    said: list[str] = []

    async def run() -> bool:
        stop, inner = asyncio.Event(), asyncio.Event()
        await asyncio.wait_for(_stop_when_stalled(runner, stop, inner, said.append,  # type: ignore[arg-type]
                                                  max_seconds=3600, tick_seconds=0.01, stall_seconds=0.05), 10)
        return inner.is_set()

    assert asyncio.run(run())
    assert said == ["  backfill   nothing sent or delivered for 0.05 s: ending the backfill here"]
