"""A data review mark counts wherever the data are shown after review (real PostgreSQL): the charts' series, the
plant page's latest values, device health, the exports, the inspection report and the alert page; with no mark
each of them gives exactly the numbers of the aggregates and raw readings it gave before."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.facts import gather
from alerts.reports.intervals import interval_means
from alerts.reports.render_html import render_html
from dashboard import series
from dashboard.access import User
from dashboard.alert_queue import load_alert_detail
from dashboard.device_health import HealthQuery, load_device_health
from dashboard.export import ExportTarget, copy_csv, export_query
from dashboard.plant import load_plant
from dashboard.review import decide_mark, propose_mark
from dashboard.series import load_series, range_spec
from envmon import rollup
from envmon.review import MarkRequest

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
ZONE = "Asia/Shanghai"
SITE = "FX-EP-001"
MN = "310120EP001W01"
CR6 = "w20117"
# Cr(VI) rises from 3 h ago to its peak 1.5 h ago (the default scenario): the alert opens on the rise.
INCIDENT = Scenario()
INSPECTOR = User(2, "insp", "Inspector", "inspector", (), (SITE,))
DEPUTY = User(5, "deputy", "Deputy inspector", "inspector", (), (SITE,))
EVIDENCE = "work order 2026-117, drift check"
# Before the rise: a mark here hides no exceedance, so it is active at once. Not aligned to a minute's or an
# hour's start, so partly marked buckets are recomputed too; it ends on an hour (end exclusive).
QUIET_START = NOW - timedelta(hours=5) + timedelta(minutes=10, seconds=15)
QUIET_END = NOW - timedelta(hours=4)


@pytest.fixture
def plant(db: psycopg.Connection) -> tuple[psycopg.Connection, int, int]:
    ensure_registry(db)
    db.commit()
    alert_id = build_incident(db, INCIDENT, now=NOW)
    db.commit()
    db.autocommit = True
    row = db.execute("SELECT id FROM devices WHERE mn = %s", (MN,)).fetchone()
    assert row is not None
    return db, int(row[0]), alert_id


def _mark(conn: psycopg.Connection, pollutant: str | None, start: datetime, end: datetime, reason: str) -> int:
    """An active mark: proposed by one inspector, approved by another when it covers an exceedance."""
    result = propose_mark(conn, DEPUTY, MarkRequest(MN, pollutant, start, end, reason, EVIDENCE), now=NOW)
    if result.state == "pending":
        decide_mark(conn, INSPECTOR, result.id, "approve", note="checked the logbook", now=NOW)
    return result.id


def _withdraw(conn: psycopg.Connection, mark_id: int) -> None:
    decide_mark(conn, INSPECTOR, mark_id, "withdraw", note="entered by mistake", now=NOW)


def _series(conn: psycopg.Connection, device_id: int, range_name: str) -> dict[str, Any]:
    got = load_series(conn, INSPECTOR, site=SITE, device_id=device_id, pollutant=CR6, range_name=range_name, now=NOW)
    assert got is not None
    return got


def _close(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 relative: an aggregate's summation order is not fixed (the last digits may differ)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _view_rows(conn: psycopg.Connection, device_id: int, range_name: str) -> list[tuple[Any, ...]]:
    spec = range_spec(range_name)
    return conn.execute(
        f"SELECT extract(epoch FROM bucket)::float8, value_avg, value_min, value_max, flag FROM {spec.view}"
        " WHERE device_id = %s AND pollutant = %s AND basis = 'instant' AND bucket >= %s AND bucket <= %s"
        " ORDER BY bucket", (device_id, CR6, NOW - spec.span, NOW)).fetchall()


def _points(series: dict[str, Any]) -> dict[float, tuple[Any, ...]]:
    return {t: (a, lo, hi, f) for t, a, lo, hi, f in
            zip(series["t"], series["avg"], series["min"], series["max"], series["flag"], strict=True)}


def _valid_mean(conn: psycopg.Connection, device_id: int, start: datetime, end: datetime) -> float | None:
    row = conn.execute("SELECT avg(value) FROM readings WHERE device_id = %s AND pollutant = %s AND basis = 'instant'"
                       " AND flag = 'N' AND time >= %s AND time < %s", (device_id, CR6, start, end)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


@pytest.mark.parametrize("range_name", ["24h", "7d", "365d"])
def test_chart_series_count_the_mark_and_are_the_aggregates_without_one(
    plant: tuple[psycopg.Connection, int, int], range_name: str,
) -> None:
    conn, device_id, _ = plant
    before = _series(conn, device_id, range_name)
    assert [tuple(r) for r in zip(before["t"], before["avg"], before["min"], before["max"], before["flag"],
                                  strict=True)] == _view_rows(conn, device_id, range_name)
    mark_id = _mark(conn, CR6, QUIET_START, QUIET_END, "invalid")
    after = _series(conn, device_id, range_name)
    spec = range_spec(range_name)
    width = {"readings_1m": timedelta(minutes=1), "readings_1h": timedelta(hours=1),
             "readings_1d": timedelta(days=1)}[spec.view]
    old, new = _points(before), _points(after)
    assert old.keys() == new.keys()
    changed = 0
    for t, point in new.items():
        start = datetime.fromtimestamp(t, UTC)
        if start + width <= QUIET_START or start >= QUIET_END:
            assert point == old[t]  # an unmarked bucket is the aggregate's own row
            continue
        changed += 1
        # Wastewater: any abnormal value marks the interval, with the first abnormal letter (the day's calibration,
        # C, sorts before the mark's D).
        assert point[3] in ("C", "D") and (old[t][3] == "C" or point[3] == "D")
        unmarked = [(start, max(start, min(start + width, QUIET_START))), (max(start, QUIET_END), start + width)]
        means = [m for a, b in unmarked if a < b and (m := _valid_mean(conn, device_id, a, b)) is not None]
        if not means:
            assert point[:3] == (None, None, None)
        else:  # the valid values outside the mark remain, and only they
            assert point[0] is not None and old[t][0] is not None and point[0] != pytest.approx(old[t][0])
    assert changed >= 1
    _withdraw(conn, mark_id)
    assert _close(_series(conn, device_id, range_name), before)


def _reviewed_rollup(conn: psycopg.Connection, device_id: int, range_name: str) -> dict[float, tuple[Any, ...]]:
    """Every bucket of the range rolled up from readings_reviewed (the view's join): what any plan must give."""
    spec = range_spec(range_name)
    rows = conn.execute(
        "SELECT extract(epoch FROM bucket)::float8, value_avg, value_min, value_max, flag FROM ("
        + rollup.rollup_sql("device_id = %(device_id)s AND pollutant = %(pollutant)s AND time >= %(since)s"
                            " AND time < %(until)s") + ") r WHERE bucket >= %(since)s AND bucket <= %(now)s",
        {"device_id": device_id, "pollutant": CR6, "since": NOW - spec.span, "now": NOW,
         "until": NOW + rollup.WIDTHS[spec.width], "width": rollup.WIDTHS[spec.width],
         "origin": rollup.ORIGINS[spec.width]}).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


# 7d: hourly buckets (rolled up again, or one pass), 365d: daily buckets (merged from hours); 24h's minute
# buckets take the same code as 7d's.
@pytest.mark.parametrize("range_name", ["7d", "365d"])
def test_every_series_plan_gives_the_roll_up_after_review(
    plant: tuple[psycopg.Connection, int, int], range_name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every way a marked series is computed (merged from the finer aggregate, one pass over the range, each marked
    bucket again) reads the marks as ranges: each letter (M, C, D), a device-wide mark and a pollutant's mark must
    give what the readings_reviewed view gives, bucket by bucket."""
    conn, device_id, _ = plant
    _mark(conn, CR6, QUIET_START, QUIET_END, "maintenance")
    _mark(conn, None, NOW - timedelta(hours=2, minutes=50), NOW - timedelta(hours=2, minutes=20), "calibration")
    _mark(conn, CR6, NOW - timedelta(hours=1, minutes=40, seconds=30), NOW - timedelta(hours=1), "device_fault")
    expected = _reviewed_rollup(conn, device_id, range_name)
    assert {v[3] for v in expected.values()} - {"N"}, "no bucket is flagged: the marks missed the data"
    plans = (("composed", series.FINER, 0.5), ("mostly_marked", {}, 0.0), ("few_marked", {}, float("inf")))
    for plan_name, finer, share in plans:
        monkeypatch.setattr(series, "FINER", finer)
        monkeypatch.setattr(series, "ONE_PASS_SHARE", share)
        got = _points(_series(conn, device_id, range_name))
        assert got.keys() == expected.keys(), plan_name
        assert _close(got, expected), plan_name


def test_plant_page_shows_the_flag_after_review_and_the_marks_reason(plant: tuple[psycopg.Connection, int, int]) -> None:
    conn, device_id, _ = plant
    mine = lambda data: [r for r in data["readings"] if r["device_id"] == device_id]  # noqa: E731
    before = load_plant(conn, INSPECTOR, SITE, now=NOW)
    assert before is not None
    assert all(r["mark_reason"] is None and r["flag"] == r["logger_flag"] for r in before["readings"])
    # Device-wide, over the open exceedance; past the newest reading (taken at NOW), as a running job's mark is.
    _mark(conn, None, NOW - timedelta(minutes=10), NOW + timedelta(hours=1), "maintenance")
    after = load_plant(conn, INSPECTOR, SITE, now=NOW)
    assert after is not None
    rows = mine(after)
    assert rows and all((r["flag"], r["mark_reason"]) == ("M", "maintenance") for r in rows)
    assert [r["value"] for r in rows] == [r["value"] for r in mine(before)]  # the value itself never changes
    others = [r for r in after["readings"] if r["device_id"] != device_id]
    assert others == [r for r in before["readings"] if r["device_id"] != device_id]


def test_device_health_validity_counts_the_mark(plant: tuple[psycopg.Connection, int, int]) -> None:
    conn, device_id, _ = plant
    query = HealthQuery(site=SITE)

    def device() -> dict[str, Any]:
        return next(d for d in load_device_health(conn, INSPECTOR, now=NOW, query=query)["devices"]
                    if d["device_id"] == device_id)

    before = device()
    row = conn.execute("SELECT sum(sample_count), sum(valid_count) FROM readings_1m WHERE device_id = %s"
                       " AND basis = 'instant' AND bucket >= %s", (device_id, NOW - timedelta(hours=1))).fetchone()
    assert row is not None and (before["samples"], before["valid"], before["marked"]) == (row[0], row[1], 0)
    start = NOW - timedelta(minutes=30, seconds=10)
    _mark(conn, None, start, NOW, "device_fault")
    unmade = conn.execute("SELECT count(*) FROM readings WHERE device_id = %s AND basis = 'instant' AND flag = 'N'"
                          " AND time >= %s AND time < %s", (device_id, start, NOW)).fetchone()
    assert unmade is not None and unmade[0] > 0
    after = device()
    assert after["samples"] == before["samples"] and after["transmission"] == before["transmission"]
    assert after["valid"] == before["valid"] - unmade[0]
    under = conn.execute("SELECT count(*) FROM readings WHERE device_id = %s AND basis = 'instant'"
                         " AND time >= %s AND time < %s", (device_id, start, NOW)).fetchone()
    assert under is not None and after["marked"] == under[0]
    assert after["validity"] < before["validity"]


def _export(conn: psycopg.Connection, kind: str, start: datetime, end: datetime) -> list[list[str]]:
    sql, params = export_query(INSPECTOR, ExportTarget(None, MN, None, start, end), kind,  # type: ignore[arg-type]
                               locale="en", zone=ZONE)
    body = b"".join(copy_csv(conn, sql, params)).decode()
    return list(csv.reader(io.StringIO(body)))


def test_exports_show_each_values_mark_and_use_the_one_roll_up(plant: tuple[psycopg.Connection, int, int]) -> None:
    conn, device_id, _ = plant
    start, end = NOW - timedelta(hours=6), NOW - timedelta(hours=3)
    raw_before = _export(conn, "readings", start, end)
    hourly_before = _export(conn, "hourly", start, end)
    assert all(r[10:] == [r[7], "", ""] for r in raw_before)  # no mark: logger's flag, no reason, no mark
    assert all(r[13:] == ["0", ""] for r in hourly_before)
    mark_id = _mark(conn, CR6, QUIET_START, QUIET_END, "invalid")

    raw = _export(conn, "readings", start, end)
    assert len(raw) == len(raw_before)
    marked = [r for r in raw if r[3] == CR6 and r[10] == "N" and r[7] == "D"]
    assert marked and all(r[8] == "no" and r[11] == "invalid" and r[12] == f"#{mark_id}: {EVIDENCE}" for r in marked)
    under = [r for r in raw_before if r[3] == CR6 and QUIET_START <= _local(r[0]) < QUIET_END]
    assert [r for r in raw if r[11] == ""] == [r for r in raw_before if r not in under]
    assert len([r for r in raw if r[11]]) == len(under)

    hourly = _export(conn, "hourly", start, end)
    means = {m.bucket: m for m in interval_means(conn, device_id, CR6, "hour", start, end)}
    touched = [r for r in hourly if r[3] == CR6 and int(r[13]) > 0]
    assert len(touched) == 1  # the hour the mark lies in (its first ten minutes stay valid)
    for r in touched:
        assert r[11] == "D" and r[14] == f"#{mark_id} invalid: {EVIDENCE}"
        m = means[_local(r[0])]  # the report's intervals: the same roll-up
        assert (int(r[9]), int(r[10]), int(r[13])) == (m.sample_count, m.valid_count, m.marked_count)
        assert m.mean is not None and float(r[5]) == pytest.approx(m.mean)
        assert float(r[5]) != pytest.approx(float(next(b[5] for b in hourly_before if b[:4] == r[:4])))
    untouched = [r for r in hourly if int(r[13]) == 0]
    assert untouched == [r for r in hourly_before if (r[0], r[3]) not in {(t[0], t[3]) for t in touched}]
    _withdraw(conn, mark_id)
    assert _export(conn, "hourly", start, end) == hourly_before


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def test_inspection_report_and_alert_page_show_data_marked_after_the_alert(
    plant: tuple[psycopg.Connection, int, int],
) -> None:
    conn, _, alert_id = plant
    before = gather(conn, alert_id, now=NOW, zone=ZONE)
    assert before.marks == () and not before.breach_marked
    detail = load_alert_detail(conn, INSPECTOR, alert_id)
    assert detail is not None and detail["marks"] == []
    sent = conn.execute("SELECT count(*), max(a.state) FROM notifications n JOIN alerts a ON a.id = n.alert_id"
                        " WHERE a.id = %s", (alert_id,)).fetchone()

    mark_id = _mark(conn, CR6, before.event.first_breach_at - timedelta(minutes=5), NOW, "invalid")
    after = gather(conn, alert_id, now=NOW, zone=ZONE)
    assert [(m.reason, m.proposed_by, m.decided_by) for m in after.marks] == [("invalid", "deputy", "insp")]
    assert after.breach_marked
    # The data tables after review: the marked hours are no longer valid, the validity rate falls.
    marked_hours = [h for h in after.hours if h.hour_start >= before.event.first_breach_at]
    assert marked_hours and all(not h.valid and h.interval.mean is None for h in marked_hours)
    assert after.quality.valid < before.quality.valid and after.quality.received == before.quality.received
    assert dict(after.quality.flag_counts).get("D", 0) > dict(before.quality.flag_counts).get("D", 0)
    assert after.series.maximum is not None and before.series.maximum is not None
    assert after.series.maximum < before.series.maximum  # the exceedance's values left the chart's means
    # The alert stands as raised (peak, state) and nothing sent is retracted.
    assert (after.event.peak_value, after.event.state) == (before.event.peak_value, before.event.state)
    assert conn.execute("SELECT count(*), max(a.state) FROM notifications n JOIN alerts a ON a.id = n.alert_id"
                        " WHERE a.id = %s", (alert_id,)).fetchone() == sent
    html = render_html(after, locale="en", zone=ZoneInfo(ZONE))
    assert "were marked in data review as not valid" in html and EVIDENCE in html
    detail = load_alert_detail(conn, INSPECTOR, alert_id)
    assert detail is not None and [m["id"] for m in detail["marks"]] == [mark_id]


def test_pages_show_the_mark_over_http(database_url: str) -> None:
    from tests.alert_helpers import WATER
    from tests.browser.world import build_world, client, login, raise_alert

    world = build_world(database_url)
    alert_id = raise_alert(world, WATER, "w20117", 5.0, samples=3)
    with client(world) as app:
        headers = {"X-CSRF-Token": login(app, "operator")}
        now = datetime.now(UTC)
        body = {"device_mn": WATER, "pollutant": None, "start_at": (now - timedelta(minutes=30)).isoformat(),
                "end_at": (now + timedelta(hours=1)).isoformat(), "reason": "calibration", "evidence": EVIDENCE}
        mark = app.post("/api/review/marks", json=body, headers=headers).json()
        if mark["state"] == "pending":
            app.cookies.clear()
            headers = {"X-CSRF-Token": login(app, "inspector")}
            approved = app.post(f"/api/review/marks/{mark['id']}/approve", json={"note": "seen"}, headers=headers)
            assert approved.status_code == 200, approved.text
        app.cookies.clear()
        login(app, "inspector")
        plant_page = app.get("/plants/T-001").text
        assert "C · 校准" in plant_page  # the latest value's flag after review and the mark's reason (zh-CN page)
        latest = app.get("/api/plants/T-001").json()["readings"]
        assert any(r["mark_reason"] == "calibration" and r["flag"] == "C" for r in latest)
        health = app.get("/health?site=T-001").text
        assert 'class="marked"' in health
        alert_page = app.get(f"/alerts/{alert_id}").text
        assert 'id="data-marked"' in alert_page and EVIDENCE in alert_page
        incident = app.get(f"/api/alerts/{alert_id}/series").json()
        assert incident["flag"] and set(incident["flag"]) == {"C"}  # every reading of the alert is under the mark
