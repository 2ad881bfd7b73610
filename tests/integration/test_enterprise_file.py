"""The enterprise file in PostgreSQL: permit limits in force where stricter, records stored, reload idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.facts import gather
from alerts.reports.render_html import render_html
from alerts.rules.registry import load_engine_registry
from envmon.registry.load import parse_registry
from envmon.registry.permits import derive_permit_limits
from envmon.registry.store import store_registry
from tests.unit.test_permit_limits import FILE

# A second device at a workshop outlet, where GB 21900 Table 3 limits total chromium at 0.5 mg/L.
WORKSHOP = FILE.replace('[[permits]]', '''[[devices]]
mn = "310120EP001W02"
site = "FX-EP-001"
point_kind = "workshop_outlet"
point_name_zh = "车间排口"
point_name_en = "Workshop outlet"
kind = "water_analyser"
transport = "mqtt"
system_code = "32"
pollutants = ["w20116", "w20117"]
reporting_interval_seconds = 30

[[permits]]''', 1).replace('''lower = 6.5, upper = 9.5 }]''', '''lower = 6.5, upper = 9.5 }]

[[permits.outlets]]
code = "DW002"
name_zh = "车间排口"
name_en = "Workshop outlet"
devices = ["310120EP001W02"]
limits = [{ pollutant = "w20116", upper = 0.8 }, { pollutant = "w20117", upper = 0.08 }]''', 1)


def _load(conn: psycopg.Connection, text: str) -> dict[str, int]:
    counts = store_registry(conn, parse_registry(text, "t.toml"), actor="test")
    conn.commit()
    return {**counts.inserted, **{f"{k}~": v for k, v in counts.updated.items()}}


def _permit_rows(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT d.mn, l.pollutant, l.direction, l.lower_value, l.upper_value, l.source FROM limits l "
        "JOIN devices d ON d.id = l.device_id WHERE l.permit_id IS NOT NULL ORDER BY d.mn, l.pollutant"
    ).fetchall()


def test_permit_limits_in_force_only_where_stricter(db: psycopg.Connection) -> None:
    _load(db, WORKSHOP)
    permit = "排污许可证 91310120700547736C001P"
    assert _permit_rows(db) == [
        # pH: the permit's lower bound 6.5 is stricter, the national upper bound 9 stays (upper's source first).
        ("310120EP001W01", "w01001", "range", 6.5, 9.0, f"GB 21900-2008 表3 / {permit} DW001"),
        # Cr(VI) 0.08 beats Table 3's 0.1; total Cr 0.8 is looser than 0.5, so no permit row for it.
        ("310120EP001W02", "w20117", "upper", None, 0.08, f"{permit} DW002"),
    ]
    valid = db.execute("SELECT DISTINCT valid_from, valid_to FROM limits WHERE permit_id IS NOT NULL").fetchall()
    assert valid == [(datetime(2025, 12, 31, 16, tzinfo=UTC), datetime(2030, 12, 31, 16, tzinfo=UTC))]


def test_explicit_registry_limit_at_the_same_key_wins(db: psycopg.Connection) -> None:
    # VALID's own device limit for Cr(VI) at W01 from 2026-01-01 shares the derived row's key.
    _load(db, WORKSHOP)
    rows = db.execute("SELECT source, permit_id FROM limits WHERE device_id = (SELECT id FROM devices "
                      "WHERE mn = '310120EP001W01') AND pollutant = 'w20117'").fetchall()
    assert rows == [("排污许可证", None)]


def test_permit_limit_stands_alone_where_no_national_limit_applies(db: psycopg.Connection) -> None:
    # Table 3 limits Cr(VI) only at workshop outlets: at the main outfall the permit sets the only limit.
    _load(db, WORKSHOP.replace('valid_from = 2026-01-01T00:00:00+08:00', 'valid_from = 2026-02-01T00:00:00+08:00'))
    derived = db.execute("SELECT upper_value, source FROM limits WHERE permit_id IS NOT NULL AND pollutant = 'w20117' "
                         "AND device_id = (SELECT id FROM devices WHERE mn = '310120EP001W01')").fetchall()
    assert derived == [(0.05, "排污许可证 91310120700547736C001P DW001")]


def test_records_stored_and_reload_changes_nothing(db: psycopg.Connection) -> None:
    _load(db, WORKSHOP)
    assert db.execute("SELECT kind, case_number, penalty_yuan, status FROM enforcement_records").fetchall() == [
        ("penalty", "第2125000123号", 200000, "closed")]
    assert db.execute("SELECT kind, number FROM eia_records").fetchall() == [("approval", "沪奉环保许评〔2011〕155号")]
    assert _load(db, WORKSHOP) == {}


def test_a_looser_permit_after_a_reload_drops_its_derived_row(db: psycopg.Connection) -> None:
    _load(db, WORKSHOP)
    _load(db, WORKSHOP.replace('{ pollutant = "w20117", upper = 0.08 }', '{ pollutant = "w20117", upper = 0.2 }'))
    assert [r[:2] for r in _permit_rows(db)] == [("310120EP001W01", "w01001")]
    site_id = db.execute("SELECT id FROM sites WHERE code = 'FX-EP-001'").fetchone()
    assert site_id is not None and derive_permit_limits(db, site_id[0]) == 1


def test_report_shows_permit_limit_in_force_enforcement_and_this_outlets_past(db: psycopg.Connection) -> None:
    """A Cr(VI) incident at FX-EP-006 of the example district: the permit's 0.15 mg/L applies, not Table 2's 0.2."""
    ensure_registry(db)
    db.commit()
    now = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    earlier = build_incident(db, Scenario(mn="310120EP006W01", peak=0.3, resolved_hours_ago=1.0, days=2),
                             now=now - timedelta(days=30))
    db.execute("UPDATE alerts SET severity = 'exceedance', state = 'closed' WHERE id = %s", (earlier,))
    alert_id = build_incident(db, Scenario(mn="310120EP006W01", peak=0.3, days=2), now=now)
    facts = gather(db, alert_id, now=now)
    assert facts.limit is not None and (facts.limit.upper, facts.limit.source) == (
        0.15, "排污许可证 91310120792756120B001P DW001")
    assert facts.file is not None and facts.file.permit is not None and facts.file.permit.limit_from_permit
    assert [e.case_number for e in facts.file.enforcement] == ["第2131202600045号", "奉环改字〔2026〕031号"]
    earlier_code = db.execute("SELECT code FROM alerts WHERE id = %s", (earlier,)).fetchone()
    assert earlier_code is not None and earlier_code[0] in [p.code for p in facts.file.past_exceedances]
    assert all(now - timedelta(days=365) <= p.opened_at < facts.event.first_breach_at
               for p in facts.file.past_exceedances)
    html = render_html(facts, locale="zh-CN", zone=ZoneInfo("Asia/Shanghai"))
    english = render_html(facts, locale="en", zone=ZoneInfo("Asia/Shanghai"))
    assert "排污许可证(严于排放标准)" in html and "第2131202600045号" in html and "按日连续处罚" not in html
    assert "the discharge permit (stricter than the standard)" in english and "Enforcement in the last 12 months" in english


def test_engine_loads_permit_limits_marked_as_such(db: psycopg.Connection) -> None:
    _load(db, WORKSHOP)
    specs = load_engine_registry(db).limits
    marked = {(s.pollutant, s.upper, s.source) for s in specs if s.from_permit}
    assert ("w20117", 0.08, "排污许可证 91310120700547736C001P DW002") in marked
    assert all("排污许可证 91310120700547736C001P" in s.source for s in specs if s.from_permit)
    assert not any(s.from_permit for s in specs if s.source == "GB 21900-2008 表3")
