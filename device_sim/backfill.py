"""A week of history before the demo goes live: the simulator's signals, sent through the broker and the HJ 212
gateway to ingest like any live reading, as fast as the transports take them.

The recent hours come at each device's own interval (so the device-health page's last hour and the charts' last
day look as they will live), the older part of the week at a coarser step where the budget demands it. MQTT
devices send their history in bulk as store-and-forward messages (`device_sim.history`); HJ 212 loggers frame by
frame, as their protocol does, through the per-sample simulation."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from device_sim.errors import SimError
from device_sim.history import DeviceHistory, HistorySender
from device_sim.noise import F64
from device_sim.plans import DevicePlan
from device_sim.runner import RunOptions, SimRunner
from device_sim.stats import Stats
from envmon.settings import Settings

BACKFILL_DAYS = 7
BUDGET_SECONDS = 60.0
# The backfill stops queueing after this many budgets of wall time (a machine far slower than planned: going live
# matters more than history); what was queued is still delivered.
MAX_BUDGETS = 5.0
# Samples per second each transport takes in backfill with ingest storing them, the two side by side (measured
# 2026-12-05 in `envmon demo` on the 2-core dev machine while other work loaded it to 8-17: MQTT 13,000-25,000
# samples/s in store-and-forward messages of up to 1,000, ingest storing 4.3 M readings as they came; HJ 212
# ~150 frames/s, each waiting for the gateway's 9014, and a sparse history makes the gateway ask for the missing
# minute data). They only choose the plan: a quiet machine finishes early.
RATES_PER_SECOND = {"mqtt": 20_000.0, "hj212": 150.0}
# How far ingest may fall behind what the MQTT history has queued (readings) before the history waits for it.
MAX_LAG_READINGS = 100_000
# Going live waits until ingest has stored the history; it stops waiting when nothing more is stored for this long.
STORE_STALL_SECONDS = 15.0
STORE_POLL_SECONDS = 0.5
TRANSPORT_NAMES = {"mqtt": "MQTT", "hj212": "HJ 212"}
# No message queued and none delivered for this long ends the backfill (a transport that hangs, e.g. loggers
# that cannot reach the gateway). Progress counts deliveries too: the HJ 212 loggers work through their queues
# for tens of seconds after the last sample is queued. Room for a loaded machine's pauses, well under MAX_BUDGETS.
STALL_SECONDS = 15.0
PROGRESS_EVERY = 5  # seconds between progress lines
# The older part of the week: a device's interval is stretched to the first of these steps that fits (0: its own).
STEPS_SECONDS = (0, 60, 120, 300, 600, 900, 1800, 3600)
# How much of the recent past comes at each device's own interval, the longest that fits (None: all of it).
TAILS_HOURS: tuple[float | None, ...] = (None, 24, 12, 6, 3, 1, 0)
FALLBACK_TAIL_HOURS = 1  # when nothing fits: this much at full interval and nothing older


def _count(first_s: float, end_s: float, step_s: float) -> int:
    """Samples at first_s, first_s + step_s, ... before end_s."""
    return max(0, math.ceil((end_s - first_s) / step_s))


@dataclass(frozen=True)
class DeviceBackfill:
    """One device's history: one reading per `step_s` before `tail_from_s`, one per `interval_s` from there on;
    each part starts at the device's phase for that spacing (as the per-sample simulation places it)."""

    transport: str
    step_s: float
    interval_s: float
    tail_from_s: float
    step_phase_s: float
    interval_phase_s: float

    @classmethod
    def of(cls, plan: DevicePlan, step_s: float, tail_from_s: float) -> DeviceBackfill:
        """The history of a device stretched to `step_s` (never finer than its interval) before `tail_from_s`."""
        step = float(max(plan.interval_seconds, step_s))  # math.inf: nothing before `tail_from_s`
        step_phase = dataclasses.replace(plan, interval_seconds=step).phase_s if math.isfinite(step) else 0.0
        return cls(plan.transport, step, plan.interval_seconds, tail_from_s, step_phase, plan.phase_s)


@dataclass(frozen=True)
class BackfillPlan:
    """Which devices, which period (epoch seconds) and how densely each device's history comes."""

    start_s: float
    end_s: float
    devices: dict[str, DeviceBackfill]

    def times(self, mn: str) -> F64:
        """The sample times of device `mn`, ascending."""
        d = self.devices[mn]
        tail_from = max(self.start_s, d.tail_from_s)
        older = self.start_s + d.step_phase_s + d.step_s * np.arange(
            _count(self.start_s + d.step_phase_s, tail_from, d.step_s))
        recent = tail_from + d.interval_phase_s + d.interval_s * np.arange(
            _count(tail_from + d.interval_phase_s, self.end_s, d.interval_s))
        return np.concatenate([older, recent]).astype(np.float64)

    def count(self, mn: str) -> int:
        """How many samples device `mn` sends over the period."""
        d = self.devices[mn]
        tail_from = max(self.start_s, d.tail_from_s)
        return (_count(self.start_s + d.step_phase_s, tail_from, d.step_s)
                + _count(tail_from + d.interval_phase_s, self.end_s, d.interval_s))

    @property
    def total(self) -> int:
        """Samples of all devices together."""
        return sum(self.count(mn) for mn in self.devices)

    @property
    def steps_seconds(self) -> dict[str, float]:
        """Each device's spacing in the older part of the week."""
        return {mn: d.step_s for mn, d in self.devices.items()}

    def describe(self) -> str:
        """How dense the history is, for the banner, per transport when they differ: `MQTT: the last 12 h at each
        device's own interval, one reading per 1800 s before; HJ 212: the last 1 h ..., one reading per 3600 s`."""
        parts = {t: self._describe([d for d in self.devices.values() if d.transport == t])
                 for t in dict.fromkeys(d.transport for d in self.devices.values())}
        if len(set(parts.values())) == 1:
            return next(iter(parts.values()))
        return "; ".join(f"{TRANSPORT_NAMES.get(t, t)}: {text}" for t, text in parts.items())

    def _describe(self, devices: Sequence[DeviceBackfill]) -> str:
        # Whole hours: the catch-up after the week adds the minutes the sending took to every device's recent part.
        tails_h = sorted({round((self.end_s - max(self.start_s, d.tail_from_s)) / 3600) for d in devices})
        covered = [d for d in devices if d.tail_from_s > self.start_s]
        if not covered:
            return "every device at its own interval"
        older = sorted({d.step_s for d in covered if math.isfinite(d.step_s)})
        if not older:
            return f"only the last {_span(tails_h)} h, at each device's own interval"
        if tails_h[-1] == 0:
            return f"one reading per {_span(older)} s"
        return f"the last {_span(tails_h)} h at each device's own interval, one reading per {_span(older)} s before"


def _span(values: Sequence[float]) -> str:
    return f"{values[0]:g}" if values[0] == values[-1] else f"{values[0]:g}-{values[-1]:g}"


def _candidates() -> Iterator[tuple[float | None, float]]:
    """(recent hours at full interval, older step), best first: the week covered with the longest recent part, then
    the finest older step; then the recent part alone (no older step fits)."""
    for tail_h in TAILS_HOURS:
        for step_s in STEPS_SECONDS:
            yield tail_h, step_s
    for tail_h in TAILS_HOURS:
        if tail_h != 0:
            yield tail_h, math.inf


def _plan_transport(plans: Sequence[DevicePlan], start_s: float, end_s: float,
                    budget_samples: float) -> dict[str, DeviceBackfill]:
    """The first candidate that fits `budget_samples`; when none does, the last hour alone (what the device-health
    page and the live charts look at first)."""
    for tail_h, step_s in _candidates():
        tail_from = start_s if tail_h is None else max(start_s, end_s - tail_h * 3600)
        chosen = {p.mn: DeviceBackfill.of(p, step_s, tail_from) for p in plans}
        if BackfillPlan(start_s, end_s, chosen).total <= budget_samples:
            return chosen
    return {p.mn: DeviceBackfill.of(p, math.inf, max(start_s, end_s - FALLBACK_TAIL_HOURS * 3600)) for p in plans}


def plan_backfill(
    plans: Sequence[DevicePlan], now: datetime, *, days: float = BACKFILL_DAYS,
    rates_per_second: dict[str, float] | None = None, budget_seconds: float = BUDGET_SECONDS,
) -> BackfillPlan:
    """The past `days` up to `now`: each transport's devices get the longest recent stretch at their own interval
    and the finest older step that fit `budget_seconds` at the transport's rate (the transports run side by side);
    when nothing fits, one reading an hour."""
    rates = rates_per_second or RATES_PER_SECOND
    end_s = float(math.floor(now.timestamp()))  # devices sample on whole seconds
    start_s = end_s - days * 86400
    chosen: dict[str, DeviceBackfill] = {}
    for transport in dict.fromkeys(p.transport for p in plans):
        group = [p for p in plans if p.transport == transport]
        chosen |= _plan_transport(group, start_s, end_s, rates[transport] * budget_seconds)
    return BackfillPlan(start_s, end_s, {p.mn: chosen[p.mn] for p in plans})


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
    messages: int  # samples queued (an MQTT history message carries up to an hour of them; an HJ 212 frame one)
    readings: int  # the real-time values of those samples
    errors: int
    seconds: float  # until the transports delivered everything, or the backfill was ended
    unsent: int = 0  # messages and frames still waiting in the transports when it ended: never stored

    @property
    def messages_per_second(self) -> float:
        """The rate achieved, samples per wall-clock second."""
        return self.messages / max(self.seconds, 1e-9)

    def line(self) -> str:
        """The line the demo prints when the backfill is done."""
        days = (self.plan.end_s - self.plan.start_s) / 86400
        head = (f"  backfill   {len(self.plan.devices)} devices, past {round(days, 1):g} days, {self.plan.describe()}: "
                f"{self.messages:,} samples ({self.readings:,} real-time readings) ")
        if self.unsent:  # the figures above were queued, not all delivered: say how many were lost
            return (head + f"queued in {self.seconds:.1f} s, {self.errors} errors; {self.unsent:,} messages and "
                    "frames were still waiting in the transports when it ended and are not stored")
        return (head + f"delivered in {self.seconds:.1f} s = {self.messages_per_second:,.0f} samples/s, "
                f"{self.errors} errors")


async def _report(stats: list[Stats], stop: asyncio.Event, say: Callable[[str], None]) -> None:
    """A progress line every PROGRESS_EVERY seconds: samples queued so far and the rate since the last line."""
    started, last = time.monotonic(), 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PROGRESS_EVERY)
        if stop.is_set():
            return
        sent = sum(int(s.snapshot()["messages"]) for s in stats)
        say(f"  backfill   {sent:,} samples queued after {time.monotonic() - started:.0f} s "
            f"({(sent - last) / PROGRESS_EVERY:,.0f}/s)")
        last = sent


async def _hj212_history(settings: Settings, options: RunOptions, plan: BackfillPlan, plans: Sequence[DevicePlan],
                         since_s: float, stop: asyncio.Event, stats: list[Stats], deadline: float,
                         say: Callable[[str], None] | None) -> int:
    """The loggers' history from `since_s` on through the per-sample simulation, older part then recent part;
    what stayed unsent."""
    if not plans:
        return 0
    tail_from = max(plan.start_s, plan.devices[plans[0].mn].tail_from_s)
    unsent = 0
    for begin, end, spacing in ((plan.start_s, tail_from, "step_s"), (tail_from, plan.end_s, "interval_s")):
        begin = max(begin, since_s)  # a whole number of spacings on: the same grid as the plan's times
        left = deadline - time.monotonic()
        if end <= begin or stop.is_set() or left <= 0 or not math.isfinite(getattr(plan.devices[plans[0].mn], spacing)):
            continue
        runner = SimRunner(settings, dataclasses.replace(
            options, mqtt=False, devices=tuple(p.mn for p in plans),
            start=datetime.fromtimestamp(begin, UTC), duration_seconds=end - begin))
        runner.plans = [dataclasses.replace(p, interval_seconds=getattr(plan.devices[p.mn], spacing))
                        for p in runner.plans]
        stats.append(runner.stats)
        inner_stop = asyncio.Event()
        watcher = asyncio.create_task(_stop_when_stalled(runner, stop, inner_stop, say, max_seconds=left))
        try:
            await runner.run(inner_stop)
        finally:
            watcher.cancel()
        unsent += runner.unsent
    return unsent


def _mqtt_history(plan: BackfillPlan, plans: Sequence[DevicePlan], since_s: float) -> list[DeviceHistory]:
    """The MQTT devices' samples from `since_s` on, seq counting on from the samples before it."""
    histories = []
    for p in plans:
        times = plan.times(p.mn)
        before = int(np.searchsorted(times, since_s))
        histories.append(DeviceHistory(p, times[before:], first_seq=before + 1))
    return histories


async def run_backfill(
    settings: Settings, registry_path: Path, stop: asyncio.Event, *, now: datetime | None = None,
    devices: tuple[str, ...] | None = None, say: Callable[[str], None] | None = None, days: float = BACKFILL_DAYS,
    rates_per_second: dict[str, float] | None = None, budget_seconds: float = BUDGET_SECONDS,
    stored: Callable[[], int] | None = None, clock: Callable[[], float] = time.time,
) -> BackfillResult:
    """Send the planned history through the real transports (MQTT and HJ 212 side by side), then the minutes that
    passed meanwhile at each device's own interval, so going live leaves no gap; `say` hears a progress line
    every few seconds and the result; `stored` (readings the platform has stored so far), when given, paces the
    MQTT history to it."""
    now = now or datetime.fromtimestamp(clock(), UTC)
    # No drain limit: the backfill ends when everything queued is delivered, or by its watchdog.
    options = RunOptions(registry_path=registry_path, scenario="backfill", speed=math.inf, devices=devices,
                         drain_seconds=math.inf)
    base = SimRunner(settings, options)  # checks the devices and the scenario, builds every device's plan
    mqtt_plans = [p for p in base.plans if p.transport == "mqtt"]
    hj212_plans = [p for p in base.plans if p.transport == "hj212"]
    if any(base.scenario.for_device(p.mn) for p in mqtt_plans):  # the bulk path sends the undisturbed signal
        raise SimError("the backfill scenario must have no incidents on MQTT devices")
    plan = plan_backfill(base.plans, now, days=days, rates_per_second=rates_per_second, budget_seconds=budget_seconds)
    started = time.monotonic()
    # MAX_BUDGETS at most: the plan assumed the transports' rates, a loaded machine may manage a fraction of them.
    deadline = started + MAX_BUDGETS * budget_seconds
    stats: list[Stats] = []
    done = asyncio.Event()
    reporter = asyncio.create_task(_report(stats, done, say)) if say else None
    # Given what the platform has stored, the MQTT history waits whenever ingest is more than MAX_LAG_READINGS
    # behind everything queued: the broker acknowledges at once, and a long queue in ingest would hold up the
    # loggers' frames (each waits for its commit) until they time out.
    lag = (lambda: sum(int(s.snapshot()["readings"]) for s in stats) - stored()) if stored else None

    async def send(plan: BackfillPlan, since_s: float) -> int:
        sender = HistorySender(settings, _mqtt_history(plan, mqtt_plans, since_s), Stats())
        stats.append(sender.stats)
        return sum(await asyncio.gather(
            sender.run(stop, deadline=deadline, stall_seconds=STALL_SECONDS, lag=lag, max_lag=MAX_LAG_READINGS),
            _hj212_history(settings, options, plan, hj212_plans, since_s, stop, stats, deadline, say)))

    try:
        unsent = await send(plan, plan.start_s)
        if not stop.is_set() and not unsent and time.monotonic() < deadline:
            # The minutes the week took to send, at each device's own interval from where the week ended.
            caught_up = dataclasses.replace(plan, end_s=float(math.floor(clock())))
            unsent += await send(caught_up, plan.end_s)
            plan = caught_up
    finally:
        done.set()
        if reporter:
            await reporter
    totals = [s.snapshot() for s in stats]
    result = BackfillResult(plan, sum(int(t["messages"]) for t in totals), sum(int(t["readings"]) for t in totals),
                            sum(int(t["errors"]) for t in totals), time.monotonic() - started, unsent)
    if say:
        say(result.line())
    return result


async def until_stored(stored: Callable[[], int], result: BackfillResult, stop: asyncio.Event, *,
                       stall_seconds: float = STORE_STALL_SECONDS, say: Callable[[str], None] | None = None) -> None:
    """Return once `stored()` (readings the platform has stored) reaches what the backfill delivered: live readings
    queued behind the history would reach the alert engine late. Returns early, and says so, when it stops rising
    for `stall_seconds`, or on `stop`. (Ingest's counter also counts the loggers' minute and hour means and the
    values it derives, so it may reach the figure a moment before the last real-time reading is stored.)"""
    began = time.monotonic()
    last, since = stored(), began
    while (now_stored := stored()) < result.readings and not stop.is_set():
        if now_stored > last:
            last, since = now_stored, time.monotonic()
        elif time.monotonic() - since >= stall_seconds:
            if say:
                say(f"  backfill   ingest stored {now_stored:,} of {result.readings:,} readings and no more for "
                    f"{stall_seconds:g} s: going live")
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STORE_POLL_SECONDS)
    if say and not stop.is_set():
        say(f"  backfill   stored by ingest {time.monotonic() - began:.1f} s after the last was delivered")
