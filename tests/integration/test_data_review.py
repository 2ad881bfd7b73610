"""Data review against real PostgreSQL: marks change the report's counts, means and judgement (for the past too),
a mark over an exceedance waits for a second person, every step is audited, and the readings never change."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.reports.compliance import ComplianceRow, gather_compliance
from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.render_html import render_compliance_html
from dashboard.access import User
from dashboard.kpi import kpi_csv, load_kpis
from dashboard.review import ReviewRefused, decide_mark, list_marks, propose_mark
from envmon.review import MarkRequest

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
ZONE = "Asia/Shanghai"
MN = "310120EP001W01"
DAY = date(2026, 11, 21)
DAY_START = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # the 21st in Shanghai
DAY_END = DAY_START + timedelta(days=1)
# Cr(VI) climbs from 08:00 local on the 21st to 0.3 mg/L and stays high: the 21st's daily mean breaks 0.1.
INCIDENT = Scenario(peak=0.3, rise_hours_ago=30, peak_hours_ago=26)
OPERATOR = User(1, "op", "Operator", "operator", (), ("FX-EP-001",))
INSPECTOR = User(2, "insp", "Inspector", "inspector", (), ("FX-EP-001",))
OUTSIDER = User(3, "far", "Elsewhere", "inspector", (), ("XX-000",))
VIEWER = User(4, "view", "Viewer", "viewer", (), ("FX-EP-001",))
DEPUTY = User(5, "deputy", "Deputy inspector", "inspector", (), ("FX-EP-001",))


@pytest.fixture
def plant(db: psycopg.Connection) -> psycopg.Connection:
    ensure_registry(db)
    db.commit()
    build_incident(db, INCIDENT, now=NOW)
    db.commit()
    db.autocommit = True
    return db


def _row(conn: psycopg.Connection, pollutant: str) -> ComplianceRow:
    facts = gather_compliance(conn, "FX-EP-001", "daily", DAY, now=NOW, zone=ZONE)
    return next(r for r in facts.rows if r.mn == MN and r.pollutant.code == pollutant)


def _same_row(a: ComplianceRow, b: ComplianceRow) -> bool:
    """Equal, floats to 1e-9 relative (an aggregate's summation order is not fixed)."""
    pairs = zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True)
    return all(x == pytest.approx(y, rel=1e-9) if isinstance(x, float) else x == y for x, y in pairs)


def _readings_fingerprint(conn: psycopg.Connection) -> tuple[object, ...]:
    row = conn.execute(
        "SELECT count(*), sum(value::numeric), md5(string_agg(flag || time::text || value::text, ',' ORDER BY device_id,"
        " pollutant, time)) FROM readings").fetchone()
    assert row is not None
    return tuple(row)


def _mark(pollutant: str | None, start: datetime, end: datetime, reason: str) -> MarkRequest:
    return MarkRequest(MN, pollutant, start, end, reason, "work order 2026-117, photo of the logbook")


def test_maintenance_mark_leaves_expected_and_received_and_keeps_the_readings(plant: psycopg.Connection) -> None:
    before = _row(plant, "w00000")
    other_before = _row(plant, "w20117")
    fingerprint = _readings_fingerprint(plant)
    start = DAY_START + timedelta(hours=2)
    result = propose_mark(plant, OPERATOR, _mark("w00000", start, start + timedelta(hours=2), "maintenance"), now=NOW)
    assert result.state == "active"  # no exceedance of flow under it: no second person needed
    after = _row(plant, "w00000")
    in_window = plant.execute(
        "SELECT count(*) FROM readings r JOIN devices d ON d.id = r.device_id WHERE d.mn = %s AND pollutant = 'w00000'"
        " AND time >= %s AND time < %s", (MN, start, start + timedelta(hours=2))).fetchone()
    assert in_window is not None and in_window[0] > 0
    assert after.expected == before.expected - 2 * 3600 // 30
    assert after.received == before.received - in_window[0]
    assert _readings_fingerprint(plant) == fingerprint
    # The other pollutant is untouched (means compared to rounding: PostgreSQL may sum in another order).
    assert _same_row(_row(plant, "w20117"), other_before)
    assert _row(plant, "w20117").over == 1


def test_mark_over_an_exceedance_needs_a_second_person_then_changes_the_past(plant: psycopg.Connection) -> None:
    baseline = _row(plant, "w20117")
    assert (baseline.intervals, baseline.over) == (1, 1)
    fingerprint = _readings_fingerprint(plant)
    mark = propose_mark(plant, DEPUTY, _mark("w20117", DAY_START, DAY_END, "invalid"), now=NOW)
    assert mark.state == "pending"
    assert _same_row(_row(plant, "w20117"), baseline)  # pending marks have no effect

    refusals = (("deputy", DEPUTY, "review_own_mark"), ("operator", OPERATOR, "forbidden"),
                ("viewer", VIEWER, "forbidden"))
    for who, user, key in refusals:
        with pytest.raises(ReviewRefused) as refused:
            decide_mark(plant, user, mark.id, "approve", note="looks fine", now=NOW)
        assert refused.value.key == key, who
    with pytest.raises(LookupError):
        decide_mark(plant, OUTSIDER, mark.id, "approve", note="looks fine", now=NOW)
    assert _same_row(_row(plant, "w20117"), baseline)

    assert decide_mark(plant, INSPECTOR, mark.id, "approve", note="checked the logbook", now=NOW).state == "active"
    marked = _row(plant, "w20117")
    assert (marked.intervals, marked.over, marked.mean) == (0, 0, None)
    assert marked.received == baseline.received and marked.valid == 0
    assert _readings_fingerprint(plant) == fingerprint

    facts = gather_compliance(plant, "FX-EP-001", "daily", DAY, now=NOW, zone=ZONE)
    assert [(m.mn, m.reason, m.proposed_by, m.decided_by) for m in facts.marks] == [(MN, "invalid", "deputy", "insp")]
    html = render_compliance_html(facts, locale="en", zone=ZoneInfo(ZONE))
    assert "work order 2026-117" in html and "invalid" in html

    decide_mark(plant, OPERATOR, mark.id, "withdraw", note="entered by mistake", now=NOW + timedelta(minutes=5))
    assert _same_row(_row(plant, "w20117"), baseline)
    events = [(e["actor"], e["action"], e["note"]) for e in list_marks(plant, INSPECTOR)[0]["events"]]
    assert events == [("deputy", "proposed", "work order 2026-117, photo of the logbook"),
                      ("insp", "approved", "checked the logbook"), ("op", "withdrawn", "entered by mistake")]
    audit = plant.execute("SELECT actor, action FROM audit_log WHERE entity = 'data_mark' ORDER BY id").fetchall()
    assert audit == [("deputy", "review.propose"), ("insp", "review.approve"), ("op", "review.withdraw")]


def test_marks_never_overlap_so_a_reading_has_one_meaning(plant: psycopg.Connection) -> None:
    first = propose_mark(plant, OPERATOR, _mark("w00000", DAY_START, DAY_START + timedelta(hours=2), "maintenance"),
                         now=NOW)
    overlapping = (
        _mark("w00000", DAY_START + timedelta(hours=1), DAY_START + timedelta(hours=3), "invalid"),
        _mark(None, DAY_START + timedelta(hours=1), DAY_START + timedelta(hours=3), "calibration"),
    )
    for req in overlapping:
        with pytest.raises(ReviewRefused) as refused:
            propose_mark(plant, OPERATOR, req, now=NOW)
        assert refused.value.key == "review_overlap"
    # Another pollutant, or the time after the mark, is free; and once withdrawn, so is the period.
    propose_mark(plant, OPERATOR, _mark("w01001", DAY_START, DAY_END, "calibration"), now=NOW)
    propose_mark(plant, OPERATOR, _mark("w00000", DAY_START + timedelta(hours=3), DAY_END, "maintenance"), now=NOW)
    decide_mark(plant, OPERATOR, first.id, "withdraw", note="wrong day", now=NOW)
    propose_mark(plant, OPERATOR, overlapping[0], now=NOW)
    duplicated = plant.execute("SELECT count(*) - count(DISTINCT (device_id, pollutant, basis, time))"
                               " FROM readings_reviewed").fetchone()
    assert duplicated == (0,)


def test_the_database_refuses_a_self_approval_the_code_let_through(plant: psycopg.Connection) -> None:
    mark = propose_mark(plant, OPERATOR, _mark("w20117", DAY_START, DAY_END, "invalid"), now=NOW)
    with pytest.raises(psycopg.errors.CheckViolation):
        plant.execute("UPDATE data_marks SET state = 'active', decided_by = proposed_by WHERE id = %s", (mark.id,))


def test_scope_and_role_refusals_when_proposing(plant: psycopg.Connection) -> None:
    with pytest.raises(LookupError):
        propose_mark(plant, OUTSIDER, _mark(None, DAY_START, DAY_END, "maintenance"), now=NOW)
    with pytest.raises(ReviewRefused) as refused:
        propose_mark(plant, VIEWER, _mark(None, DAY_START, DAY_END, "maintenance"), now=NOW)
    assert refused.value.key == "forbidden"
    with pytest.raises(ReviewRefused) as refused:
        propose_mark(plant, OPERATOR, _mark("a21026", DAY_START, DAY_END, "maintenance"), now=NOW)
    assert refused.value.key == "review_bad_pollutant"
    assert plant.execute("SELECT count(*) FROM data_marks").fetchone() == (0,)


def test_kpis_per_device_plant_and_district_follow_the_marks(plant: psycopg.Connection) -> None:
    admin = User(9, "admin", "Admin", "admin", (), ())
    month = date(2026, 11, 1)
    before = {(r.level, r.key): r for r in load_kpis(plant, admin, month=month, zone=ZONE, now=NOW)}
    device = before[("device", MN)]
    assert before[("plant", "FX-EP-001")].counts.expected >= device.counts.expected > 0
    district = next(r for (level, _), r in before.items() if level == "district")
    plants = [r for (level, _), r in before.items() if level == "plant"]
    assert district.counts.expected == sum(p.counts.expected for p in plants)  # one district in the example

    propose_mark(plant, OPERATOR, _mark(None, DAY_START, DAY_START + timedelta(hours=1), "calibration"), now=NOW)
    after = {(r.level, r.key): r for r in load_kpis(plant, admin, month=month, zone=ZONE, now=NOW)}
    pollutants = plant.execute("SELECT cardinality(pollutants) FROM devices WHERE mn = %s", (MN,)).fetchone()
    assert pollutants is not None
    assert after[("device", MN)].counts.expected == device.counts.expected - pollutants[0] * 3600 // 30
    scoped = load_kpis(plant, OUTSIDER, month=month, zone=ZONE, now=NOW)
    assert scoped == []
    csv_text = kpi_csv(list(after.values()))
    assert csv_text.splitlines()[0].startswith("level,key,name_zh,name_en,expected,received,valid")
    assert f"device,{MN}," in csv_text


@pytest.mark.parametrize(
    ("rule", "mark_minutes", "state"),
    [
        pytest.param("instant", (-50, -10), "active", id="instant-breach-after-the-mark"),
        pytest.param("hour_avg", (-50, -10), "pending", id="hour-mean-over-the-marked-readings"),
        pytest.param("hour_avg", (-120, -70), "active", id="hour-mean-of-a-later-hour"),
        pytest.param("day_avg", (-20 * 60, -19 * 60), "pending", id="day-mean-over-the-marked-readings"),
    ],
)
def test_a_mark_over_the_readings_a_mean_judged_needs_a_second_person(
    db: psycopg.Connection, rule: str, mark_minutes: tuple[int, int], state: str
) -> None:
    ensure_registry(db)
    build_incident(db, Scenario(days=1), now=NOW)  # one Cr(VI) exceedance; a day of data is enough here
    db.commit()
    db.autocommit = True
    # A mean's exceedance breaches when its hour or day closes, after the readings it judged.
    db.execute("UPDATE alerts SET rule = %s, first_breach_at = %s, resolved_at = %s WHERE pollutant = 'w20117'",
                  (rule, DAY_END, DAY_END + timedelta(hours=1)))
    start, end = (DAY_END + timedelta(minutes=m) for m in mark_minutes)
    assert propose_mark(db, OPERATOR, _mark("w20117", start, end, "invalid"), now=NOW).state == state
