"""Daily and monthly compliance reports against the data of a simulated incident; the schedule makes each once."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime

import psycopg
import pytest

from alerts.reports.compliance import gather_compliance
from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.store import generate_compliance_report, generate_due_compliance_reports, load_report

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
ZONE = "Asia/Shanghai"
# Cr(VI) climbs from 08:00 local on the 21st to 0.3 mg/L and stays high: the 21st's daily mean breaks 0.1.
LONG_INCIDENT = Scenario(peak=0.3, rise_hours_ago=30, peak_hours_ago=26)


@pytest.fixture
def plant(db: psycopg.Connection) -> psycopg.Connection:
    ensure_registry(db)
    db.commit()
    build_incident(db, LONG_INCIDENT, now=NOW)
    return db


def _counts(conn: psycopg.Connection, pollutant: str, start: datetime, end: datetime) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE flag = 'N') FROM readings r JOIN devices d ON d.id = r.device_id"
        " WHERE d.mn = '310120EP001W01' AND pollutant = %s AND time >= %s AND time < %s",
        (pollutant, start, end),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_daily_report_counts_the_day_over_the_limit_and_the_rates(plant: psycopg.Connection) -> None:
    facts = gather_compliance(plant, "FX-EP-001", "daily", date(2026, 11, 21), now=NOW, zone=ZONE)
    row = next(r for r in facts.rows if r.mn == "310120EP001W01" and r.pollutant.code == "w20117")
    start = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    received, valid = _counts(plant, "w20117", start, datetime(2026, 11, 21, 16, 0, tzinfo=UTC))
    assert (row.expected, row.received, row.valid) == (2880, received, valid)
    assert row.transmission_rate == pytest.approx(received / 2880)
    assert row.validity_rate == pytest.approx(valid / received)
    assert row.limit is not None and row.limit.upper == pytest.approx(0.1) and row.limit.basis == "day"
    assert (row.intervals, row.over) == (1, 1) and row.mean is not None and row.mean > 0.1
    assert facts.exceedance_alerts == 1
    flow = next(r for r in facts.rows if r.pollutant.code == "w00000")
    assert flow.over == 0


def test_monthly_report_runs_to_now_and_counts_missing_days(plant: psycopg.Connection) -> None:
    facts = gather_compliance(plant, "FX-EP-001", "monthly", date(2026, 11, 1), now=NOW, zone=ZONE)
    row = next(r for r in facts.rows if r.mn == "310120EP001W01" and r.pollutant.code == "w20117")
    start = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    received, _ = _counts(plant, "w20117", start, NOW)
    expected = int((NOW - start).total_seconds() // 30)
    assert (row.expected, row.received) == (expected, received)
    assert row.transmission_rate == pytest.approx(received / expected) and row.transmission_rate < 0.5
    assert len(facts.alerts) == 2  # the incident and the device fault three weeks ago


def test_compliance_pdf_states_plant_and_period(plant: psycopg.Connection) -> None:
    report = load_report(plant, generate_compliance_report(plant, "FX-EP-001", "daily", date(2026, 11, 21),
                                                           locale="zh-CN", now=NOW, zone=ZONE))
    assert report is not None and report.pdf is not None and report.kind == "daily"
    text = subprocess.run(["pdftotext", "-", "-"], input=report.pdf, capture_output=True, check=True).stdout.decode()
    assert "上海奉贤鑫达电镀有限公司" in text and "2026-11-21" in text and "企业在线监测日报" in text


def test_schedule_makes_each_due_report_once(plant: psycopg.Connection) -> None:
    plant.execute("UPDATE sites SET active = false WHERE code <> 'FX-EP-001'")
    plant.commit()
    made = generate_due_compliance_reports(plant, now=NOW, zone=ZONE)
    periods = plant.execute(
        "SELECT kind, period_start, period_end, status FROM reports WHERE id = ANY(%s) ORDER BY kind", (made,)
    ).fetchall()
    assert periods == [
        ("daily", date(2026, 11, 21), date(2026, 11, 22), "final"),
        ("monthly", date(2026, 10, 1), date(2026, 11, 1), "final"),
    ]
    assert generate_due_compliance_reports(plant, now=NOW, zone=ZONE) == []
