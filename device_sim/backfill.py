"""A week of history before the demo goes live: the simulator's signals, published through the broker and
the HJ 212 gateway to ingest like any live reading, as fast as the transports take them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from device_sim.plans import DevicePlan
from device_sim.runner import RunOptions, SimRunner
from envmon.settings import Settings

BACKFILL_DAYS = 7
BUDGET_SECONDS = 60.0
MAX_BUDGETS = 3.0  # the backfill ends after this many budgets of wall time, sent or not
# What the simulator publishes per second in backfill with ingest storing it (measured 2026-12-05 on the 2-core
# dev machine during a full test run: all 208 devices of the example district, 770-1,145 messages/s, ~3.2
# readings each; the ingest bench alone takes ~178k readings/s, so the simulator's per-message publishing is
# the bottleneck). It only chooses the step: at 1,000/s a 60 s budget gives the district one reading an hour.
MESSAGES_PER_SECOND = 1000.0
# No message queued and none delivered for this long ends the backfill (a transport that hangs, e.g. loggers
# that cannot reach the gateway). Progress counts deliveries too: the HJ 212 loggers work through their queues
# for tens of seconds after the last sample is queued. Room for a loaded machine's pauses, well under MAX_BUDGETS.
STALL_SECONDS = 15.0
PROGRESS_EVERY = 5  # seconds between progress lines
# A device's interval is stretched to the first of these steps that fits (0: its own interval).
STEPS_SECONDS = (0, 60, 120, 300, 600, 900, 1800, 3600)


@dataclass(frozen=True)
class BackfillPlan:
    """Which devices, which period (epoch seconds) and each device's step between readings."""

    start_s: float
    end_s: float
    steps_seconds: dict[str, float]

    def count(self, mn: str) -> int:
        """How many samples device `mn` sends over the period."""
        return math.ceil((self.end_s - self.start_s) / self.steps_seconds[mn])

    @property
    def total(self) -> int:
        """Samples of all devices together."""
        return sum(self.count(mn) for mn in self.steps_seconds)


def _steps(plans: Sequence[DevicePlan], step_s: float) -> dict[str, float]:
    return {p.mn: float(max(p.interval_seconds, step_s)) for p in plans}


def plan_backfill(
    plans: Sequence[DevicePlan], now: datetime, *, days: float = BACKFILL_DAYS,
    messages_per_second: float = MESSAGES_PER_SECOND, budget_seconds: float = BUDGET_SECONDS,
) -> BackfillPlan:
    """The past `days` up to `now` at each device's interval, or at the coarsest-needed common step that fits
    `budget_seconds` at `messages_per_second` (the last step when none fits)."""
    end_s = float(math.floor(now.timestamp()))  # devices sample on whole seconds
    start_s = end_s - days * 86400
    budget = messages_per_second * budget_seconds
    for step_s in STEPS_SECONDS:
        plan = BackfillPlan(start_s, end_s, _steps(plans, step_s))
        if plan.total <= budget:
            return plan
    return plan


def _every(n: int, say: Callable[[str], None]) -> Callable[[str], None]:
    """Pass on every `n`-th progress line (the runner makes one a second: a minute of them would flood the banner)."""
    seen = [0]

    def hear(line: str) -> None:
        seen[0] += 1
        if seen[0] % n == 0:
            say(f"  backfill   {line}")

    return hear


def progressed(before: tuple[int, int], after: tuple[int, int]) -> bool:
    """Whether the backfill moved on between two looks at (messages queued, messages and frames not yet delivered):
    the simulation queued more, or the transports delivered some of what waits (they still do for a while after the
    simulation has queued its last sample: an HJ 212 logger waits for each frame's 9014)."""
    return after[0] > before[0] or after[1] < before[1]


async def _stop_when_stalled(runner: SimRunner, stop: asyncio.Event, inner_stop: asyncio.Event,
                             say: Callable[[str], None] | None, *, max_seconds: float,
                             tick_seconds: float = 1.0, stall_seconds: float = STALL_SECONDS) -> None:
    """Stop the backfill with the demo, when it made no progress for `stall_seconds` (nothing queued, nothing
    delivered: the engine's pacing waits for a transport's backlog without a limit; seen with the whole district:
    the demo must still go live), or after `max_seconds` (a machine much slower than the planned rate: history is
    a nicety, going live is not)."""
    last, still_s, waited_s = (-1, 0), 0.0, 0.0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick_seconds)
        waited_s += tick_seconds
        seen = (int(runner.stats.snapshot()["messages"]), runner.backlog())
        still_s = 0.0 if progressed(last, seen) else still_s + tick_seconds
        last = seen
        if still_s >= stall_seconds:
            if say:
                say(f"  backfill   nothing sent or delivered for {stall_seconds:g} s: ending the backfill here")
            break
        if waited_s >= max_seconds:
            if say:
                say(f"  backfill   still running after {max_seconds:g} s (a busy machine): ending it here, "
                    "with the history sent so far")
            break
    inner_stop.set()


@dataclass(frozen=True)
class BackfillResult:
    """What a backfill sent and how fast."""

    plan: BackfillPlan
    messages: int  # samples the simulation queued (one message each; an HJ 212 sample may add minute/hour frames)
    readings: int  # the real-time values of those messages
    errors: int
    seconds: float  # until the transports delivered everything, or the backfill was ended
    unsent: int = 0  # messages and frames still waiting in the transports when it ended: never stored

    @property
    def messages_per_second(self) -> float:
        """The rate achieved, messages per wall-clock second."""
        return self.messages / max(self.seconds, 1e-9)

    def line(self) -> str:
        """The line the demo prints when the backfill is done."""
        steps = sorted(set(self.plan.steps_seconds.values()))
        step_text = f"one reading per {steps[0]:g} s" if len(steps) == 1 else f"every {steps[0]:g}-{steps[-1]:g} s"
        days = (self.plan.end_s - self.plan.start_s) / 86400
        head = (f"  backfill   {len(self.plan.steps_seconds)} devices, past {days:g} days, {step_text}: "
                f"{self.messages:,} messages ({self.readings:,} real-time readings) ")
        if self.unsent:  # the figures above were queued, not all delivered: say how many were lost
            return (head + f"queued in {self.seconds:.1f} s, {self.errors} errors; {self.unsent:,} messages and "
                    "frames were still waiting in the transports when it ended and are not stored")
        return (head + f"delivered in {self.seconds:.1f} s = {self.messages_per_second:,.0f} messages/s, "
                f"{self.errors} errors")


async def run_backfill(
    settings: Settings, registry_path: Path, stop: asyncio.Event, *, now: datetime | None = None,
    devices: tuple[str, ...] | None = None, say: Callable[[str], None] | None = None, days: float = BACKFILL_DAYS,
    messages_per_second: float = MESSAGES_PER_SECOND, budget_seconds: float = BUDGET_SECONDS,
) -> BackfillResult:
    """Send the planned history through the real transports; `say` hears a progress line each second."""
    now = now or datetime.now(UTC)
    # No drain limit: the backfill ends when everything queued is delivered, or by its watchdog (below).
    runner = SimRunner(settings, RunOptions(registry_path=registry_path, scenario="backfill", speed=math.inf,
                                            devices=devices, drain_seconds=math.inf),
                       progress=_every(PROGRESS_EVERY, say) if say else None)
    plan = plan_backfill(runner.plans, now, days=days, messages_per_second=messages_per_second,
                         budget_seconds=budget_seconds)
    runner.options = dataclasses.replace(runner.options, start=datetime.fromtimestamp(plan.start_s, UTC),
                                         duration_seconds=plan.end_s - plan.start_s)
    # Fewer points than live when a week at full interval would not fit the budget (see plan_backfill).
    runner.plans = [dataclasses.replace(p, interval_seconds=plan.steps_seconds[p.mn]) for p in runner.plans]
    started = time.monotonic()
    inner_stop = asyncio.Event()
    # Three budgets at most: the plan assumed `messages_per_second`, a loaded machine may manage a third of it.
    watcher = asyncio.create_task(_stop_when_stalled(runner, stop, inner_stop, say,
                                                     max_seconds=MAX_BUDGETS * budget_seconds))
    try:
        stats = (await runner.run(inner_stop)).snapshot()
    finally:
        watcher.cancel()
    result = BackfillResult(plan, int(stats["messages"]), int(stats["readings"]), int(stats["errors"]),
                            time.monotonic() - started, runner.unsent)
    if say:
        say(result.line())
    return result
