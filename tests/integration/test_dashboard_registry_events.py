"""Live events follow registry changes: a device moved to another plant is scoped by its new plant at once
(before, the dashboard kept the device's old plant until it restarted, and that plant's users saw its events)."""

from __future__ import annotations

import asyncio

import psycopg

from dashboard.events import DeviceSites, EventHub, load_device_sites
from tests.browser.world import OTHER_DEVICE, build_world


async def _moved_scope(database_url: str) -> tuple[tuple[str, str], tuple[str, str]]:
    def devices() -> DeviceSites:
        with psycopg.connect(database_url) as conn:
            return load_device_sites(conn)

    def move() -> int:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("UPDATE devices SET site_id = (SELECT id FROM sites WHERE code = 'T-002')"
                               " WHERE mn = %s RETURNING id", (OTHER_DEVICE,)).fetchone()
        assert row is not None
        return int(row[0])

    hub = EventHub(database_url, devices)
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop))
    try:
        await asyncio.wait_for(hub.connected.wait(), 10)
        device_id = next(i for i, place in hub.device_sites.items() if place[1] == "U-001")
        before = hub.device_sites[device_id]
        assert await asyncio.to_thread(move) == device_id
        for _ in range(100):  # up to 5 s; the notification arrives within milliseconds
            if hub.device_sites[device_id] != before:
                break
            await asyncio.sleep(0.05)
        return before, hub.device_sites[device_id]
    finally:
        stop.set()
        await task


def test_a_device_moved_to_another_plant_is_scoped_by_its_new_plant(database_url: str) -> None:
    build_world(database_url)
    before, after = asyncio.run(_moved_scope(database_url))
    assert before[1] == "U-001" and after == ("t", "T-002")
