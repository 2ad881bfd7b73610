"""Flue gas through real ingest: an HJ 212 frame with ZsRtd and an MQTT message without corrected values
both end with measured and corrected rows stored; a device's own unit is honoured; the registry's
points of application survive the database."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.rules.registry import load_engine_registry
from envmon.protocols.hj212 import Message, encode_message, format_cst, format_qn
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from envmon.stack.launcher import StackState
from ingest.gateway import Hj212Gateway
from tests.ingest_helpers import RunningIngest, publish, registry_with, start_ingest, wait_for_count
from tests.mqtt_helpers import ProbeClient

LOGGER, PW = "310120HJ001G01", "654321"
MQTT_STACK, MQTT_WATER, OUTFALL = "310120T001G01", "310120T001W01", "310120T001W02"
T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
CEMS = """
[[devices]]
mn = "{mn}"
site = "T-001"
point_kind = "stack"
point_name_zh = "锅炉排气筒"
point_name_en = "Boiler stack"
kind = "cems"
transport = "{transport}"
system_code = "31"
pollutants = ["a21026", "a21002", "a19001", "a21026z", "a21002z"]
reporting_interval_seconds = 30
o2_reference_percent = {o2_ref}
{extra}
"""
WATER = """
[[devices]]
mn = "{mn}"
site = "T-001"
point_kind = "{point}"
point_name_zh = "排口"
point_name_en = "Outlet"
kind = "water_analyser"
transport = "mqtt"
system_code = "32"
pollutants = ["w20117", "w01018"]
reporting_interval_seconds = 30
units = {{ w20117 = "mg/L" }}
"""
REGISTRY = registry_with(
    CEMS.format(mn=LOGGER, transport="hj212", o2_ref=3.0, extra=f'hj212_password = "{PW}"')
    + CEMS.format(mn=MQTT_STACK, transport="mqtt", o2_ref=3.5, extra="")
    + WATER.format(mn=MQTT_WATER, point="workshop_outlet")
    + WATER.format(mn=OUTFALL, point="outfall")
).replace('industry = "electroplating"', 'industry = "electroplating"\nlimit_presets = ["GB21900-2008-T3"]', 1)


@pytest.fixture
def running(stack: StackState, database_url: str) -> Iterator[tuple[RunningIngest, int]]:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
    ingest = start_ingest(stack, database_url, client_id="envmon-ingest-fluegas")
    gateway = Hj212Gateway(ingest.pipeline, port=0)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    server = threading.Thread(target=loop.run_until_complete, args=(gateway.run(stop),), daemon=True)
    server.start()
    assert asyncio.run_coroutine_threadsafe(_listening(gateway), loop).result(10)
    assert gateway.port is not None
    yield ingest, gateway.port
    loop.call_soon_threadsafe(stop.set)
    server.join(10)
    ingest.shutdown()


async def _listening(gateway: Hj212Gateway) -> bool:
    await gateway.listening.wait()
    return True


async def _send(port: int, frame: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame)
    await writer.drain()
    reply = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)  # CN=9014, sent after the commit
    writer.close()
    return reply


def _rows(database_url: str, mn: str) -> dict[str, tuple[float, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT r.pollutant, r.value, r.flag FROM readings r JOIN devices d ON d.id = r.device_id WHERE d.mn = %s",
            (mn,),
        ).fetchall()
    return {p: (v, f) for p, v, f in rows}


def test_measured_and_corrected_rows_are_stored_from_both_transports(
    running: tuple[RunningIngest, int], publisher: ProbeClient, database_url: str
) -> None:
    _, port = running
    cp = f"DataTime={format_cst(T0)};a21026-Rtd=40.0,a21026-ZsRtd=65.5,a21026-Flag=N;a19001-Rtd=10.0,a19001-Flag=N"
    frame = encode_message(Message(st="31", cn="2011", mn=LOGGER, cp=cp, qn=format_qn(T0), pw=PW, flag=5))
    assert b"CN=9014" in asyncio.run(_send(port, frame))
    when = (T0 + timedelta(seconds=30)).isoformat()
    publish(publisher, MQTT_STACK, f'{{"device":"{MQTT_STACK}","seq":1,"time":"{when}",'
                                   '"values":{"a21026":40.0,"a21002":[90.0,"N"],"a19001":12.0}}'.encode())
    publish(publisher, MQTT_WATER, f'{{"device":"{MQTT_WATER}","seq":1,"time":"{when}",'
                                   '"values":{"w20117":0.05,"w01018":30}}'.encode())
    assert wait_for_count(database_url, "SELECT count(*) FROM readings", 3 + 5 + 2) == 10
    # The logger's own corrected value is kept (40 x 18/11 would be 65.45...).
    assert _rows(database_url, LOGGER) == {"a21026": (40.0, "N"), "a21026z": (65.5, "N"), "a19001": (10.0, "N")}
    assert _rows(database_url, MQTT_STACK) == {
        "a21026": (40.0, "N"),
        "a21002": (90.0, "N"),
        "a19001": (12.0, "N"),
        "a21026z": (pytest.approx(40.0 * 17.5 / 9.0), "N"),
        "a21002z": (pytest.approx(90.0 * 17.5 / 9.0), "N"),
    }
    # Sent in mg/L per the registry, not divided by 1000 as the catalogue's ug/L would be.
    assert _rows(database_url, MQTT_WATER)["w20117"] == (0.05, "N")


def test_points_of_application_and_units_survive_the_database(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        store_registry(conn, parse_registry(REGISTRY, "t"), actor="test")
        engine = load_engine_registry(conn)
        units = conn.execute("SELECT units, o2_reference_percent FROM devices WHERE mn = %s", (MQTT_WATER,)).fetchone()
    mn_of = {d.device_id: d.mn for d in engine.devices.values()}
    limited = {(mn_of[lim.device_id], lim.pollutant) for lim in engine.limits}
    assert (MQTT_WATER, "w20117") in limited and (OUTFALL, "w20117") not in limited
    assert (MQTT_WATER, "w01018") in limited and (OUTFALL, "w01018") in limited
    assert units == ({"w20117": "mg/L"}, None)
