"""The `review` scenario through the whole platform: the simulated Cr(VI) analyser -> Mosquitto -> ingest -> alert
engine (a daily-mean exceedance opens) -> an operator marks the drift invalid on the dashboard's API -> the mark
waits for a second person (the operator alone cannot approve) -> an inspector approves -> the day's compliance
judgement, mean and validity KPI change, the readings do not, and the audit has each step."""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

import ingest.rollups
from alerts.notify.fake_twilio import FakeTwilio
from alerts.reports.compliance import ComplianceRow, gather_compliance
from alerts.service import AlertService
from dashboard.users import create_user
from device_sim.runner import RunOptions, SimRunner
from envmon.settings import Settings, load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from ingest.service import IngestService
from tests.alert_helpers import alert_settings, query, wait_until
from tests.browser.world import PASSWORD, World, client, login
from tests.conftest import EXAMPLE_REGISTRY, example_district_database

pytestmark = pytest.mark.services

MN, CR6, SITE = "310120EP001W01", "w20117", "FX-EP-001"  # the scenario's drifting analyser
ZONE = ZoneInfo("Asia/Shanghai")
DRIFT_SECONDS = (120, 3120)  # the scenario's ramp: at_seconds, at_seconds + duration_seconds
EVIDENCE = "漂移核查:标液 0.050 mg/L 读数 0.112 mg/L(工单 2026-118)"


def _scenario_start(now: datetime) -> datetime:
    """10:00 two local days ago: its day has closed (past the engine's grace) whatever the time now."""
    return datetime.combine(now.astimezone(ZONE).date() - timedelta(days=2), time(10), tzinfo=ZONE)


@pytest.fixture
def district_db(stack: StackState, admin_url: str) -> Iterator[str]:
    url = example_district_database(admin_url, "envmon_review_sim")
    launcher.set_device_credentials(stack, [MN])
    with psycopg.connect(url, autocommit=True) as conn:
        for name, role in (("operator", "operator"), ("inspector", "inspector")):
            create_user(conn, username=name, role=role, password=PASSWORD, actor="test", now=datetime.now(UTC),
                        site_codes=(SITE,))
    yield url


async def _play(stack: StackState, settings: Settings, start: datetime) -> int:
    """Backfill the scenario's hour for the analyser through ingest and the engine; returns the readings sent."""
    stop = asyncio.Event()
    engine = AlertService(settings)
    ingest = IngestService(settings, hj212=False, subscribers=[engine])
    tasks = [asyncio.create_task(engine.run(stop)), asyncio.create_task(ingest.run(stop))]
    try:
        assert await asyncio.to_thread(engine.ready.wait, 15)
        assert await asyncio.to_thread(ingest.wait_connected, 10)
        sim_settings = load_settings(environment="test", mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER),
                                     state_dir=stack.state_dir, secret_key=stack.secret_key)
        options = RunOptions(registry_path=EXAMPLE_REGISTRY, scenario="review", speed=math.inf, start=start,
                             seed=19, devices=(MN,), hj212=False)
        stats = await SimRunner(sim_settings, options).run(asyncio.Event())
        assert stats.errors == 0 and stats.readings > 0
        url = settings.database_url
        stored = await asyncio.to_thread(wait_until, lambda: _readings(url) == stats.readings, 20)
        assert stored, f"{_readings(url)} of {stats.readings} readings stored"
        assert await asyncio.to_thread(wait_until, lambda: _exceedances(url), 20), "no daily exceedance opened"
        # The report reads hours and days from the roll-ups, which ingest refreshes (on plain PostgreSQL).
        assert await asyncio.to_thread(wait_until, lambda: _rolled_up(url), 20), "the roll-ups lag the readings"
        return stats.readings
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def _readings(url: str) -> int:
    return int(query(url, "SELECT count(*) FROM readings")[0][0])


def _rolled_up(url: str) -> bool:
    """The hour and day roll-ups hold every reading of the drifting series."""
    counts = [query(url, f"SELECT coalesce(sum({n}), 0) FROM {table} x JOIN devices d ON d.id = x.device_id"
                         " WHERE d.mn = %s AND x.pollutant = %s", MN, CR6)[0][0]
              for table, n in (("readings", 1), ("readings_1h", "sample_count"), ("readings_1d", "sample_count"))]
    return counts[0] > 0 and counts[0] == counts[1] == counts[2]


def _exceedances(url: str) -> list[tuple[Any, ...]]:
    return query(url, "SELECT a.rule, a.severity FROM alerts a JOIN devices d ON d.id = a.device_id WHERE d.mn = %s"
                      " AND a.pollutant = %s AND a.severity IN ('exceedance', 'severe')", MN, CR6)


def _fingerprint(url: str) -> list[tuple[Any, ...]]:
    return query(url, "SELECT count(*), md5(string_agg(flag || time::text || value::text, ',' ORDER BY device_id,"
                      " pollutant, time)) FROM readings")


def _day_row(url: str, day: date) -> ComplianceRow:
    """The daily compliance report's row of the drifting series (computed on request, like the dashboard's)."""
    with psycopg.connect(url) as conn:
        facts = gather_compliance(conn, SITE, "daily", day, now=datetime.now(UTC), zone=str(ZONE))
    return next(r for r in facts.rows if r.mn == MN and r.pollutant.code == CR6)


def _kpi_counts(c: TestClient, month: str) -> dict[str, Any]:
    rows = c.get("/api/kpi", params={"month": month}).json()
    return next(r for r in rows if r["level"] == "device" and r["key"] == MN)["counts"]


def _decide(c: TestClient, csrf: str, mark_id: int, decision: str, note: str) -> Any:
    return c.post(f"/api/review/marks/{mark_id}/{decision}", json={"note": note}, headers={"X-CSRF-Token": csrf})


def test_review_scenario_exceedance_marked_invalid_with_four_eyes(
    stack: StackState, district_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest.rollups, "REFRESH_SECONDS", 0.2)  # 5 s in production; the test waits on it
    start = _scenario_start(datetime.now(UTC))
    day, month = start.date(), start.strftime("%Y-%m")
    with FakeTwilio() as fake:  # the plant is texted about the exceedance; delivery is not this test's
        settings = alert_settings(stack, district_db, fake, ingest_http_port=0, hj212_port=0,
                                  ingest_client_id="review-sim", ingest_publish_batches=False)
        sent = asyncio.run(_play(stack, settings, start))
    assert _exceedances(district_db) == [("day_avg", "exceedance")]  # the daily mean, not a pre-warning
    before, fingerprint = _day_row(district_db, day), _fingerprint(district_db)
    assert (before.intervals, before.over) == (1, 1) and before.mean is not None and before.valid > 0
    world = World(district_db, settings.model_copy(update={"state_dir": Path(tempfile.mkdtemp(prefix="envmon-rv-"))}),
                  {}, {})
    drift = [(start + timedelta(seconds=s)).isoformat() for s in DRIFT_SECONDS]
    with client(world) as op, client(world) as insp:
        op_csrf, insp_csrf = login(op, "operator"), login(insp, "inspector")
        kpi_before = _kpi_counts(insp, month)
        proposed = op.post("/api/review/marks", headers={"X-CSRF-Token": op_csrf}, json={
            "device_mn": MN, "pollutant": CR6, "start_at": drift[0], "end_at": drift[1], "reason": "invalid",
            "evidence": EVIDENCE})
        assert proposed.status_code == 200, proposed.text
        mark = proposed.json()
        assert mark["state"] == "pending"  # it covers the exceedance: four eyes
        assert _decide(op, op_csrf, mark["id"], "approve", "我自己核过了").status_code == 403  # the proposer alone
        assert _day_row(district_db, day) == before and _kpi_counts(insp, month) == kpi_before  # pending: no effect
        approved = _decide(insp, insp_csrf, mark["id"], "approve", "核对运维记录,同意标记无效")
        assert approved.status_code == 200 and approved.json()["state"] == "active", approved.text
        kpi_after = _kpi_counts(insp, month)
    after = _day_row(district_db, day)
    marked = query(district_db, "SELECT count(*) FROM readings r JOIN devices d ON d.id = r.device_id WHERE d.mn = %s"
                                " AND r.pollutant = %s AND r.time >= %s AND r.time < %s AND r.flag = 'N'",
                   MN, CR6, *drift)[0][0]
    assert marked > 0
    # The day left only the values outside the drift: under the limit, so no exceedance; fewer valid values.
    assert after.over == 0 and after.valid == before.valid - marked and after.received == before.received
    assert after.mean is not None and after.mean < before.mean
    assert kpi_after["valid"] == kpi_before["valid"] - marked and kpi_after["received"] == kpi_before["received"]
    assert _fingerprint(district_db) == fingerprint and _readings(district_db) == sent  # readings unchanged
    events = query(district_db, "SELECT actor, action, note FROM data_mark_events WHERE mark_id = %s ORDER BY id",
                   mark["id"])
    assert events == [("operator", "proposed", EVIDENCE), ("inspector", "approved", "核对运维记录,同意标记无效")]
    audit = query(district_db, "SELECT actor, action FROM audit_log WHERE entity = 'data_mark' ORDER BY id")
    assert audit == [("operator", "review.propose"), ("inspector", "review.approve")]
