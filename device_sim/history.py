"""The MQTT devices' history for the demo's backfill, in bulk: a device's samples made a block at a time
(`fastgen.history_parts`) and sent as store-and-forward `samples` messages (docs/mqtt.md), the way a device
uploads what it measured while it could not send. The broker and ingest take them like any other message.

A sample costs a few microseconds here instead of the per-sample path's ~350 (one signal evaluation, one JSON
object and one MQTT message each): the backfill can afford every device's own interval for the recent hours."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from device_sim.fastgen import history_parts
from device_sim.mqtt_device import MqttDevice
from device_sim.noise import F64
from device_sim.payloads import samples_payloads
from device_sim.plans import DevicePlan
from device_sim.runner import mqtt_endpoint
from device_sim.stats import Stats
from envmon.protocols.mqtt_json import MAX_SAMPLES
from envmon.settings import Settings
from envmon.stack.mosquitto import device_secret

# Samples in a block: one `samples` message (ingest takes up to MAX_SAMPLES; a block of wide samples may still be
# split by bytes). Blocks of all devices go out oldest first, BLOCKS_AT_ONCE of them made per step.
BLOCK_SAMPLES = MAX_SAMPLES
BLOCKS_AT_ONCE = 32
# Messages published and not yet acknowledged by the broker, all devices together: bounds the memory held and
# lets ingest's backpressure (it stops reading when its inbox is full) reach the generator.
MAX_WAITING_MESSAGES = 64
POLL_SECONDS = 0.01


@dataclass(frozen=True)
class DeviceHistory:
    """One device's samples to send: its plan, the sample times (epoch seconds, ascending), seq of the first."""

    plan: DevicePlan
    times_s: F64
    first_seq: int = 1


def blocks(histories: Sequence[DeviceHistory]) -> list[tuple[int, int, int]]:
    """(device index, first, last sample index) of every block of BLOCK_SAMPLES samples, oldest first (ties in
    device order): the order they are sent in, so history arrives roughly in time order across devices."""
    found = [(float(h.times_s[first]), k, first, min(first + BLOCK_SAMPLES, h.times_s.shape[0]))
             for k, h in enumerate(histories) for first in range(0, h.times_s.shape[0], BLOCK_SAMPLES)]
    return [(k, first, last) for _, k, first, last in sorted(found)]


def block_payloads(history: DeviceHistory, first: int, last: int) -> list[bytes]:
    """The `samples` messages of a device's samples first..last-1."""
    parts = history_parts(history.plan, history.times_s[first:last], history.first_seq + first)
    return samples_payloads(history.plan.mn, parts)


class HistorySender:
    """Connects each device, sends its history block by block across all devices (oldest first) until all is queued
    or the wall-time cap passes, and waits until the broker has acknowledged every message queued, the transport
    stalls, or `stop`."""

    def __init__(self, settings: Settings, histories: Sequence[DeviceHistory], stats: Stats) -> None:
        self.histories = [h for h in histories if h.times_s.shape[0]]
        self.stats = stats
        host, port = mqtt_endpoint(settings)
        secret = settings.require_secret()
        self.devices = [MqttDevice(h.plan.mn, device_secret(secret, h.plan.mn), host, port, stats)
                        for h in self.histories]

    def backlog(self) -> int:
        """Messages not yet acknowledged by the broker."""
        return sum(d.backlog() for d in self.devices)

    async def run(self, stop: asyncio.Event, *, deadline: float, stall_seconds: float,
                  lag: Callable[[], int] | None = None, max_lag: int = 100_000) -> int:
        """Send everything; the messages still unacknowledged when it had to end (0: all delivered). With `lag`
        (readings queued but not yet stored), wait while it exceeds `max_lag`."""
        if not self.histories:
            return 0
        for device in self.devices:
            device.start()
        try:
            order = blocks(self.histories)
            moving = True
            for at in range(0, len(order), BLOCKS_AT_ONCE):
                made = await asyncio.to_thread(self._make, order[at:at + BLOCKS_AT_ONCE])
                for k, payloads in made:
                    self.devices[k].send_stored(payloads)
                moving = await self._wait_below(MAX_WAITING_MESSAGES, stop, deadline, stall_seconds)
                if moving and lag is not None:
                    moving = await _wait_until(lambda: lag() <= max_lag, stop, deadline, stall_seconds, lag)
                if not moving:
                    break
            if moving:  # all queued: the deadline ends the sending, not the delivery (which only a stall ends)
                await self._wait_below(1, stop, math.inf, stall_seconds)
            return self.backlog()
        finally:
            await asyncio.gather(*(asyncio.to_thread(d.close) for d in self.devices))

    def _make(self, chosen: Sequence[tuple[int, int, int]]) -> list[tuple[int, list[bytes]]]:
        """The messages of some blocks (off the event loop: numpy and string work), counted as queued."""
        made = []
        for k, first, last in chosen:
            history = self.histories[k]
            made.append((k, block_payloads(history, first, last)))
            self.stats.count(messages=last - first, readings=(last - first) * len(history.plan.codes))
        return made

    async def _wait_below(self, limit: int, stop: asyncio.Event, deadline: float, stall_seconds: float) -> bool:
        """Wait until fewer than `limit` messages wait for the broker; False when it stalled, passed the deadline
        or was stopped first (the caller ends the backfill)."""
        return await _wait_until(lambda: self.backlog() < limit, stop, deadline, stall_seconds, self.backlog)


async def _wait_until(done: Callable[[], bool], stop: asyncio.Event, deadline: float, stall_seconds: float,
                      left: Callable[[], int]) -> bool:
    """Wait until `done()`; False when `left()` (what is still to be done) stopped falling for `stall_seconds`,
    the deadline passed or `stop` was set first."""
    last, since = left(), time.monotonic()
    while not done():
        now = time.monotonic()
        if (waiting := left()) < last:
            last, since = waiting, now
        if stop.is_set() or now >= deadline or now - since >= stall_seconds:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_SECONDS)
    return True
