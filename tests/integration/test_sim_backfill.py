"""The demo's backfill through the real platform: the simulator publishes a week of history to Mosquitto and the
HJ 212 gateway, ingest stores it in PostgreSQL; a second run finds it and reuses it."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from device_sim.backfill import BackfillResult, run_backfill
from envmon.settings import load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from envmon_app.demo import backfill_wanted, stored_readings
from ingest.service import IngestService
from tests.conftest import EXAMPLE_REGISTRY, example_district_database
from tests.mqtt_helpers import wait_for_logins
from tests.patience import patience

MQTT_WATER, MQTT_GAS, HJ212_WATER = "310120EP001W01", "310120CH001S01", "310120EP002W01"
DEVICES = (MQTT_WATER, MQTT_GAS, HJ212_WATER)
# A budget of 1,200 MQTT samples: their last hour at each device's own interval (840) and one an hour before it
# (334); 180 HJ 212 frames: the week hourly (168), not also its last hour (120 + 167).
RATES, BUDGET_S = {"mqtt": 20.0, "hj212": 3.0}, 60.0


async def _backfill(stack: StackState, database_url: str, now: datetime, lines: list[str]) -> BackfillResult:
    ingest_settings = load_settings(
        environment="test", database_url=database_url, mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER),
        state_dir=stack.state_dir, ingest_http_port=0, hj212_port=0, ingest_client_id="sim-backfill-ingest",
    )
    service = IngestService(ingest_settings, hj212=True)
    stop_ingest = asyncio.Event()
    ingest_task = asyncio.create_task(service.run(stop_ingest))
    try:
        assert service.gateway is not None
        await asyncio.wait_for(service.gateway.listening.wait(), patience(10))
        assert await asyncio.to_thread(service.wait_connected, patience(10))
        deadline = time.monotonic() + patience(60)
        while not len(service.pipeline.directory):
            assert time.monotonic() < deadline, "the pipeline never loaded the registry"
            await asyncio.sleep(0.05)
        sim_settings = load_settings(
            environment="test", mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER), state_dir=stack.state_dir,
            secret_key=stack.secret_key, hj212_port=service.gateway.port,
        )
        result = await run_backfill(sim_settings, EXAMPLE_REGISTRY, asyncio.Event(), now=now, devices=DEVICES,
                                    say=lines.append, rates_per_second=RATES, budget_seconds=BUDGET_S)
        await asyncio.to_thread(_wait_for_rows, database_url, result, Path(stack.state_dir))
    finally:
        stop_ingest.set()
        await ingest_task
    return result


def _instant_counts(url: str) -> dict[str, tuple[int, datetime, datetime]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT d.mn, count(DISTINCT r.time), min(r.time), max(r.time) FROM readings r "
            "JOIN devices d ON d.id = r.device_id WHERE r.basis = 'instant' GROUP BY d.mn"
        ).fetchall()
    return {mn: (count, low, high) for mn, count, low, high in rows}


def _broker_log_tail(state_dir: Path) -> str:
    """The last lines of the session broker's log (to say why, should ingest stop hearing it)."""
    logs = sorted(state_dir.rglob("mosquitto.log"))
    return "\n".join(logs[0].read_text(errors="replace").splitlines()[-30:]) if logs else "(no broker log)"


def _wait_for_rows(url: str, result: BackfillResult, state_dir: Path) -> None:
    """Wait (a signal, not a time) until ingest has stored an instant reading for every planned sample."""
    deadline = time.monotonic() + patience(120)
    while True:
        counts = _instant_counts(url)
        if all(counts.get(mn, (0,))[0] >= result.plan.count(mn) for mn in DEVICES):
            return
        assert time.monotonic() < deadline, (f"ingest stored {counts}, planned {result.plan.steps_seconds}, "
                                             f"{result}; broker log:\n{_broker_log_tail(state_dir)}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def backfilled(stack: StackState, admin_url: str) -> tuple[str, datetime, BackfillResult, list[str]]:
    url = example_district_database(admin_url, "envmon_sim_backfill")
    launcher.set_device_credentials(stack, [MQTT_WATER, MQTT_GAS])
    wait_for_logins(stack.mqtt_port, {mn: mosquitto.device_secret(stack.secret_key, mn) for mn in (MQTT_WATER, MQTT_GAS)})
    now = datetime.now(UTC)
    lines: list[str] = []
    result = asyncio.run(_backfill(stack, url, now, lines))
    return url, now, result, lines


def test_backfill_plan_fits_the_small_budget(backfilled: tuple[str, datetime, BackfillResult, list[str]]) -> None:
    _, now, result, lines = backfilled
    assert result.plan.steps_seconds == dict.fromkeys(DEVICES, 3600.0)
    # The week as planned, then the seconds the sending took at each device's own interval (the catch-up).
    week = {MQTT_WATER: 167 + 120, MQTT_GAS: 167 + 720, HJ212_WATER: 168}
    caught_up = {mn: int((result.plan.times(mn) >= math.floor(now.timestamp())).sum()) for mn in DEVICES}
    assert {mn: result.plan.count(mn) - caught_up[mn] for mn in DEVICES} == week
    assert result.plan.end_s >= now.timestamp() and caught_up[MQTT_GAS] >= 1  # the backfill takes seconds
    assert result.messages == result.plan.total and result.errors == 0 and result.unsent == 0
    assert lines[-1].startswith("  backfill   3 devices, past 7 days, MQTT: the last 1 h at each device's own "
                                "interval, one reading per 3600 s before; HJ 212: one reading per 3600 s: ")
    assert "delivered in" in lines[-1] and "samples/s" in lines[-1]


def test_rows_span_the_past_week_at_the_planned_times(backfilled: tuple[str, datetime, BackfillResult, list[str]]) -> None:
    """Every planned sample stored once, at its planned time: the MQTT devices' history came in store-and-forward
    messages, the logger's frame by frame."""
    url, now, result, _ = backfilled
    with psycopg.connect(url) as conn:
        for mn in DEVICES:
            stored = [t.timestamp() for (t,) in conn.execute(
                "SELECT DISTINCT r.time FROM readings r JOIN devices d ON d.id = r.device_id"
                " WHERE d.mn = %s AND r.basis = 'instant' ORDER BY 1", [mn])]
            assert stored == result.plan.times(mn).tolist(), mn
            assert now - timedelta(days=7) <= datetime.fromtimestamp(stored[0], UTC) < now - timedelta(days=7) + \
                timedelta(hours=1), mn


def test_a_second_run_finds_the_history_and_does_not_backfill_again(
    backfilled: tuple[str, datetime, BackfillResult, list[str]]
) -> None:
    url, now, _, _ = backfilled
    settings = load_settings(environment="test", database_url=url)
    earlier = stored_readings(settings)
    assert earlier is not None and earlier[0] >= 3 * 168
    assert earlier[1] <= (now - timedelta(days=6)).astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")
    assert not backfill_wanted(earlier, enabled=True)
    assert backfill_wanted(None, enabled=True) and not backfill_wanted(None, enabled=False)
