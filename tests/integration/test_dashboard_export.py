"""Exports against the real database: raw readings, hourly and daily means, alerts with timelines and
notifications, as CSV and XLSX, scoped to the user, streamed."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import psycopg
import pytest

from tests.alert_helpers import WATER
from tests.browser.world import OTHER_DEVICE, World, build_world, client, login, raise_alert, store_readings

# 2026-11-02 00:00 in Shanghai; readings every 10 minutes over two local days.
DAY0 = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
SHEET_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


@pytest.fixture
def world(database_url: str) -> World:
    w = build_world(database_url)
    rows = [(DAY0 + i * STEP, w.devices[WATER], "w20117", 0.01 * (i % 7), "D" if i % 50 == 3 else "N")
            for i in range(2 * 144)]
    rows.append((DAY0, w.devices[OTHER_DEVICE], "w20117", 9.9, "N"))
    store_readings(database_url, rows)
    return w


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())  # Excel on a Chinese Windows needs the BOM to read UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _get(c: Any, **query: str) -> Any:
    return c.get("/exports/download", params=query)


def test_raw_readings_csv_has_local_times_flags_and_validity(world: World) -> None:
    with client(world) as c:
        login(c, "viewer")
        r = _get(c, kind="readings", site="T-001", start="2026-11-02", end="2026-11-02")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="envmon-readings-T-001-20261102-20261103.csv"' in r.headers["content-disposition"]
    rows = _csv(r.content)
    assert rows[0][:3] == ["时间 (Asia/Shanghai)", "企业", "设备"]
    data = rows[1:]
    assert len(data) == 144  # one local day, nothing of the other district's plant
    assert data[0][0] == "2026-11-02 00:00:00" and data[0][1:4] == ["T-001", WATER, "w20117"]
    assert [float(r[5]) for r in data[:8]] == [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.0]
    assert (data[3][7], data[3][8]) == ("D", "否") and (data[4][7], data[4][8]) == ("N", "是")


def _view(database_url: str, view: str, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            f"SELECT bucket, value_avg, sample_count, valid_count, flag FROM {view} v JOIN devices d ON d.id ="
            " v.device_id WHERE d.mn = %s AND bucket >= %s AND bucket < %s ORDER BY bucket",
            (WATER, start, end)).fetchall()


@pytest.mark.parametrize(("kind", "view"), [
    pytest.param("hourly", "readings_1h", id="hourly-like-readings_1h"),
    pytest.param("daily", "readings_1d", id="daily-like-readings_1d"),
])
def test_interval_means_match_the_aggregate_views_with_validity(world: World, kind: str, view: str) -> None:
    with client(world) as c:
        login(c, "admin")
        rows = _csv(_get(c, kind=kind, device=WATER, start="2026-11-02", end="2026-11-03").content)[1:]
    expected = _view(world.database_url, view, DAY0, DAY0 + timedelta(days=2))
    assert len(rows) == len(expected) > 0
    for got, (bucket, mean, samples, valid, flag) in zip(rows, expected, strict=True):
        local = bucket.astimezone(world.settings.zone).strftime("%Y-%m-%d %H:%M:%S")
        assert got[0] == local and float(got[5]) == pytest.approx(mean)
        assert (int(got[9]), int(got[10]), got[11]) == (samples, valid, flag)
        assert got[12] == ("是" if valid > 0 else "否")  # wastewater: any valid value makes a valid mean


def _sheet_rows(body: bytes) -> tuple[list[str], list[list[str]]]:
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        names = sorted(n for n in z.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
        sheets = [ElementTree.fromstring(z.read(n)) for n in names]
    out: list[list[str]] = []
    for sheet in sheets:
        for row in sheet.iterfind(".//m:sheetData/m:row", SHEET_NS):
            out.append(["".join(c.itertext()) for c in row.iterfind("m:c", SHEET_NS)])
    return names, out


def test_xlsx_export_holds_the_same_rows_with_numbers_and_times_typed(world: World) -> None:
    with client(world) as c:
        login(c, "inspector")
        c.post("/locale", data={"locale": "en", "back": "/", "csrf_token": c.get("/api/me").json()["csrf_token"]})
        r = _get(c, kind="readings", site="T-001", start="2026-11-02", end="2026-11-03", format="xlsx")
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    names, rows = _sheet_rows(r.content)
    assert names == ["xl/worksheets/sheet1.xml"]
    assert rows[0][0] == "Time (Asia/Shanghai)" and len(rows) == 1 + 288
    # Times are Excel serial days (local), values plain numbers.
    first = datetime(1899, 12, 30) + timedelta(days=float(rows[1][0]))
    assert first == datetime(2026, 11, 2, 0, 0) and float(rows[2][5]) == pytest.approx(0.01)


@pytest.mark.parametrize(("user", "query"), [
    pytest.param("outsider", {"site": "T-001"}, id="plant-of-another-district"),
    pytest.param("viewer", {"district": "u"}, id="district-not-theirs"),
    pytest.param("inspector", {"device": OTHER_DEVICE}, id="device-of-another-plant"),
    pytest.param("viewer", {"site": "NOPE"}, id="unknown-plant"),
])
def test_export_outside_the_users_scope_is_not_found(world: World, user: str, query: dict[str, str]) -> None:
    with client(world) as c:
        login(c, user)
        assert _get(c, kind="readings", start="2026-11-01", end="2026-11-30", **query).status_code == 404


@pytest.mark.parametrize("query", [
    pytest.param({"start": "2026-11-03", "end": "2026-11-01", "site": "T-001"}, id="ends-before-it-starts"),
    pytest.param({"start": "yesterday", "end": "2026-11-01", "site": "T-001"}, id="not-a-date"),
    pytest.param({"start": "2026-11-01", "end": "2026-11-02"}, id="no-target"),
])
def test_malformed_export_requests_are_refused(world: World, query: dict[str, str]) -> None:
    with client(world) as c:
        login(c, "admin")
        assert _get(c, kind="readings", **query).status_code == 400


def test_alerts_export_has_one_row_per_timeline_event_in_words_and_defuses_formulas(world: World) -> None:
    alert_id = raise_alert(world)
    today = datetime.now(world.settings.zone).date().isoformat()
    with client(world) as c:
        csrf = login(c, "operator")
        c.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf, "disposition": "false_alarm",
                                                        "note": "=HYPERLINK(\"http://x\")"})
        rows = _csv(_get(c, kind="alerts", site="T-001", start=today, end=today).content)
        notes = _csv(_get(c, kind="notifications", site="T-001", start=today, end=today).content)
    with psycopg.connect(world.database_url) as conn:
        events = conn.execute("SELECT count(*) FROM alert_events WHERE alert_id = %s", (alert_id,)).fetchone()
        sent = conn.execute("SELECT count(*) FROM notifications WHERE alert_id = %s", (alert_id,)).fetchone()
    assert events is not None and sent is not None
    assert len(rows) - 1 == events[0] >= 2
    assert {r[5] for r in rows[1:]} == {"二级报警"} and {r[6] for r in rows[1:]} == {"气体报警"}
    assert "已确认" in {r[13] for r in rows[1:]}
    acknowledged = [r for r in rows[1:] if r[13] == "已确认"][0]
    assert acknowledged[16] == "误报" and acknowledged[17] == "'=HYPERLINK(\"http://x\")"  # never a formula
    assert len(notes) - 1 == sent[0]


def test_large_csv_export_arrives_in_many_blocks(world: World) -> None:
    start = DAY0 - timedelta(days=20)
    store_readings(world.database_url, [(start + i * timedelta(seconds=30), world.devices[WATER], "w01001", 7.0, "N")
                                        for i in range(20 * 2880)])
    with client(world) as c:
        login(c, "admin")
        with c.stream("GET", "/exports/download", params={"kind": "readings", "site": "T-001",
                                                         "start": "2026-10-01", "end": "2026-11-30"}) as r:
            sizes = [len(block) for block in r.iter_bytes()]
    assert sum(sizes) > 3_000_000 and len(sizes) > 10
