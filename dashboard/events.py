"""Live events: one LISTEN on `envmon_events` per process, fanned out to each browser's queue, scoped.

The alert engine sends {"kind": "alert", "id", "code", "state", "severity", "device_id"} and ingest
{"kind": "readings", "devices": [ids] | null} (null: too many to list). A browser receives only events
about devices of its plants; a readings event is cut down to those devices. Which plant and district a
device belongs to is reloaded when the registry announces a change of devices or sites
(`envmon_registry`, envmon/registry/watch.py), so a device moved to another plant is scoped anew at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from dashboard.access import User, sees_site
from envmon.registry.watch import CHANNEL as REGISTRY_CHANNEL

log = logging.getLogger(__name__)
CHANNEL = "envmon_events"
# A browser that stops reading loses events past this many (it refreshes on the next one it gets).
QUEUE_SIZE = 256
RECONNECT_SECONDS = 1.0
# An event about an unknown device reloads the device map, at most this often (a flood of them costs one query).
RELOAD_SECONDS = 5.0
# Registry tables whose change moves a device between plants or districts.
PLACE_TABLES = frozenset({"devices", "sites"})

DeviceSites = dict[int, tuple[str, str]]  # device id -> (district, site code)


def filter_event(event: dict[str, Any], user: User, devices: DeviceSites) -> dict[str, Any] | None:
    """The event as this user may see it, or None when it concerns none of their plants."""
    if event.get("kind") == "alert":
        place = devices.get(int(event.get("device_id") or -1))
        if place is None or not sees_site(user, *place):
            return None
        return {**event, "site": place[1]}
    if event.get("kind") == "readings":
        listed = event.get("devices")
        ids = list(devices) if listed is None else [int(d) for d in listed]
        mine = sorted(d for d in ids if d in devices and sees_site(user, *devices[d]))
        return {"kind": "readings", "devices": mine, "sites": sorted({devices[d][1] for d in mine})} if mine else None
    return None


def load_device_sites(conn: psycopg.Connection) -> DeviceSites:
    """Where every device is."""
    rows = conn.execute("SELECT d.id, s.district, s.code FROM devices d JOIN sites s ON s.id = d.site_id").fetchall()
    return {int(r[0]): (r[1], r[2]) for r in rows}


@dataclass(eq=False)
class Subscriber:
    """One browser's stream."""

    user: User
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: int = 0


class EventHub:
    """Listens on the channel and hands each event to the subscribers allowed to see it."""

    def __init__(self, database_url: str, load_devices: Callable[[], DeviceSites]) -> None:
        self._url = database_url
        self._load_devices = load_devices
        self._devices: DeviceSites = {}
        self._loaded_at = float("-inf")
        self._subscribers: set[Subscriber] = set()
        self.connected = asyncio.Event()

    def subscribe(self, user: User) -> Subscriber:
        """A new stream for a browser."""
        sub = Subscriber(user)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """The browser went away."""
        self._subscribers.discard(sub)

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until stop, reconnecting after failures; then end every stream."""
        while not stop.is_set():
            try:
                await self._listen(stop)
            except (psycopg.Error, OSError) as exc:
                self.connected.clear()
                log.warning("dashboard event listener lost its connection (%s); reconnecting", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_SECONDS)
        self.close_streams()

    def close_streams(self) -> None:
        """End every browser's stream (they reconnect to whoever serves next)."""
        for sub in list(self._subscribers):
            self._put(sub, None)

    async def _listen(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True,
                                                         application_name="envmon-dashboard-events") as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            await conn.execute(f"LISTEN {REGISTRY_CHANNEL}")
            self._devices = await asyncio.to_thread(self._load_devices)
            self.connected.set()
            while not stop.is_set():
                # notifies(timeout=...) returns every second so a stop is noticed without a message.
                async for note in conn.notifies(timeout=1.0):
                    if note.channel != REGISTRY_CHANNEL:
                        await self.dispatch(note.payload)
                    elif note.payload in PLACE_TABLES:
                        self._devices = await asyncio.to_thread(self._load_devices)

    @property
    def device_sites(self) -> DeviceSites:
        """Where each device is, as the scoping of events currently sees it."""
        return self._devices

    async def dispatch(self, payload: str) -> None:
        """Hand one notification payload to the subscribers who may see it."""
        try:
            event = json.loads(payload)
        except ValueError:
            log.warning("ignoring a malformed event: %.200s", payload)
            return
        if self._mentions_unknown_device(event):
            self._devices = await asyncio.to_thread(self._load_devices)  # a device added since the last load
        for sub in list(self._subscribers):
            shown = filter_event(event, sub.user, self._devices)
            if shown is not None:
                self._put(sub, shown)

    def _mentions_unknown_device(self, event: dict[str, Any]) -> bool:
        """True when the event names a device not yet in the map (reloaded at most every RELOAD_SECONDS)."""
        ids = [event.get("device_id")] if event.get("kind") == "alert" else list(event.get("devices") or [])
        unknown = any(int(d or -1) not in self._devices for d in ids)
        now = time.monotonic()
        if unknown and now - self._loaded_at >= RELOAD_SECONDS:
            self._loaded_at = now
            return True
        return False

    def _put(self, sub: Subscriber, event: dict[str, Any] | None) -> None:
        try:
            sub.queue.put_nowait(event)
        except asyncio.QueueFull:
            sub.dropped += 1
