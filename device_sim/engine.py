"""The simulation loop: every device's samples in simulated-time order, handed to its transport.

Devices are driven from one asyncio task through a heap of next sample times; `SimClock` decides
how long to wait (real time, `speed` times faster, or not at all in backfill, where transports'
backlogs pace the loop instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from device_sim.clock import SimClock
from device_sim.incidents import disturb
from device_sim.plans import DevicePlan
from device_sim.samples import Action, DeviceStream, Sample, to_sample
from device_sim.scenario import Incident, Scenario
from device_sim.signal import base_values
from device_sim.stats import Stats

log = logging.getLogger(__name__)
# In backfill, wait for a transport when it has this many messages not yet acknowledged.
BACKFILL_BACKLOG = 500
MAX_WAIT_SECONDS = 0.5
_COUNTER_OF_ACTION = {"hold": "held", "lose": "lost", "stored": "stored"}


class DeviceLink(Protocol):
    """A device's transport (MQTT or HJ 212)."""

    def deliver(self, action: Action, sample: Sample) -> None:
        """Send, hold, store or forget one sample as `action` says."""

    def malformed(self, sample: Sample, count: int) -> None:
        """Send a burst of bad messages modelled on `sample`."""

    def set_online(self, online: bool) -> None:
        """Start or end an outage (may block briefly: called off the event loop)."""

    def backlog(self) -> int:
        """Messages not yet sent or acknowledged (paces backfill)."""


@dataclass(order=True)
class _Event:
    time_s: float
    order: int
    device: int = field(compare=False)
    incident: Incident | None = field(compare=False, default=None)


class Simulation:
    """Runs devices' streams against their links from `clock.start_s` until `end_s` or `stop`."""

    def __init__(self, plans: Sequence[DevicePlan], scenario: Scenario, links: Sequence[DeviceLink], clock: SimClock,
                 stats: Stats, *, end_s: float | None = None) -> None:
        self.streams = [DeviceStream(p, scenario.for_device(p.mn), clock.start_s, phase_s=p.phase_s) for p in plans]
        self.links = list(links)
        self.clock = clock
        self.stats = stats
        self.end_s = end_s
        self.sim_now_s = clock.start_s
        self._offline = [False] * len(plans)
        self._events: list[_Event] = []
        self._order = 0
        for i, stream in enumerate(self.streams):
            self._push(stream.next_s, i)
            for inc in stream.incidents:
                if inc.kind == "malformed":
                    self._push(clock.start_s + inc.at_seconds, i, inc)
        stats.count(devices=len(plans))

    def _push(self, time_s: float, device: int, incident: Incident | None = None) -> None:
        self._order += 1
        heapq.heappush(self._events, _Event(time_s, self._order, device, incident))

    async def run(self, stop: asyncio.Event) -> None:
        """Emit until the end time or `stop`."""
        handled = 0
        while self._events and not stop.is_set():
            due = self._events[0].time_s
            if self.end_s is not None and due >= self.end_s:
                break
            wait = self.clock.wait_seconds(due)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(wait, MAX_WAIT_SECONDS))
                continue
            event = heapq.heappop(self._events)
            self.sim_now_s = event.time_s
            await self._handle(event)
            handled += 1
            if handled % 64 == 0:
                await self._yield(stop)

    async def _yield(self, stop: asyncio.Event) -> None:
        """Let the transports work; in backfill, also wait for them to catch up (or for `stop`)."""
        await asyncio.sleep(0)
        if self.clock.is_backfill:
            while not stop.is_set() and max((link.backlog() for link in self.links), default=0) > BACKFILL_BACKLOG:
                await asyncio.sleep(0.01)

    async def _handle(self, event: _Event) -> None:
        stream, link = self.streams[event.device], self.links[event.device]
        if event.incident is not None:
            link.malformed(self._peek(stream, event.time_s), event.incident.count)
            self.stats.count(malformed=event.incident.count)
            return
        action, sample = stream.advance()
        self._push(stream.next_s, event.device)
        await self._track_presence(event.device, action in ("offline", "stored"))
        if sample is None:
            return
        link.deliver(action, sample)
        if action == "send":
            self.stats.count(messages=1, readings=len(sample.values))
        else:
            self.stats.count(**{_COUNTER_OF_ACTION[action]: 1})

    async def _track_presence(self, device: int, offline: bool) -> None:
        """Take the link down when an outage starts and up when it ends."""
        if offline == self._offline[device]:
            return
        self._offline[device] = offline
        if offline:
            self.stats.count(offline_periods=1)
        log.info("device %s goes %s", self.streams[device].plan.mn, "offline" if offline else "online again")
        await asyncio.to_thread(self.links[device].set_online, not offline)

    @staticmethod
    def _peek(stream: DeviceStream, t_s: float) -> Sample:
        """A sample of the device at `t_s` that does not use up a sequence number (for malformed bursts)."""
        base = base_values(stream.plan.channels, t_s)
        outcome = disturb(stream.plan, stream.incidents, stream.start_s, t_s, base)
        return to_sample(stream.plan, outcome, stream.seq + 1, t_s)

