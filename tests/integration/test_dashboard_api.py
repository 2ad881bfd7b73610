"""Dashboard pages and API against the real database: overview, queue, actions, plant and charts, health,
reports and report links, administration, live events."""

from __future__ import annotations

import queue
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.reports import links
from alerts.reports.links import new_report_link, revoke_report_link, sign_report_link
from alerts.reports.store import generate_report
from dashboard.app import create_app
from envmon.signing import encode_b64url, purpose_mac
from tests.alert_helpers import GAS, WATER
from tests.browser.world import (
    OTHER_DEVICE,
    SECRET,
    Served,
    World,
    build_world,
    client,
    login,
    raise_alert,
    read_events,
    session_cookie,
    store_readings,
    water_history,
)
from tests.patience import patience


@pytest.fixture
def world(database_url: str) -> World:
    return build_world(database_url)


def _events(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()


def test_overview_colours_plants_by_worst_alert_and_counts_by_severity(world: World) -> None:
    raise_alert(world)  # H2S level 2 at T-001
    with client(world) as c:
        login(c, "viewer")
        data = c.get("/api/overview").json()
        tiles = {p["code"]: p for p in data["plants"]}
        assert set(tiles) == {"T-001", "T-002"}  # U-001 is in another district
        assert tiles["T-001"]["status"] == "alarm" and tiles["T-001"]["open_alerts"] == 1
        assert tiles["T-002"]["status"] == "ok"
        assert data["open_alerts_by_severity"] == {"level2": 1}
        page = c.get("/").text
        assert '<tr class="status-alarm" data-site="T-001">' in page and "U-001" not in page
        assert 'class="tile status-ok" data-site="T-002"' in page  # on the map (T-001 has no coordinates)


def test_alert_queue_filters_by_severity_state_district_and_plant(world: World) -> None:
    gas = raise_alert(world)
    water = raise_alert(world, WATER, "w20117", 0.5, samples=3)
    with client(world) as c:
        login(c, "admin")
        raise_alert(world, OTHER_DEVICE, "w20117", 0.5, samples=3)
        ids = lambda q: {a["id"] for a in c.get(f"/api/alerts?{q}").json()}  # noqa: E731
        assert ids("severity=level2") == {gas}
        assert ids("site=T-001") == {gas, water}
        assert ids("district=u") == {3}
        assert ids("state=acknowledged") == set()
        assert c.get("/api/alerts?state=nonsense").status_code == 422
        page = c.get("/alerts?severity=level2").text
        assert f'data-alert="{gas}"' in page and f'data-alert="{water}"' not in page


def test_acknowledge_note_and_resolve_go_through_the_lifecycle_with_a_timeline(world: World) -> None:
    # A gas alarm latches (issue 16: an instantaneous Cr(VI) value against GB 21900's daily limit is only a
    # pre-warning, which does not): it cannot be resolved before someone acknowledges it.
    alert_id = raise_alert(world)
    with client(world) as c:
        csrf = login(c, "operator")
        h = {"X-CSRF-Token": csrf}
        assert c.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "x"}, headers=h).status_code == 409
        r = c.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf, "disposition": "confirmed",
                                                            "note": "采样复核"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/alerts/{alert_id}"
        assert c.post(f"/api/alerts/{alert_id}/note", json={"note": "called the plant"}, headers=h).status_code == 200
        assert c.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "fixed"}, headers=h).json()["state"] == "resolved"
        detail = c.get(f"/api/alerts/{alert_id}").json()
        steps = [(e["to_state"], e["actor"], e["reason"]) for e in detail["events"]]
        assert steps == [("open", "engine", "opened"), ("acknowledged", "operator", "acknowledged"),
                         ("acknowledged", "operator", "note"), ("resolved", "operator", "fixed")]
        assert detail["alert"]["disposition"] == "confirmed" and detail["alert"]["acknowledged_by"] == "operator"
        page = c.get(f"/alerts/{alert_id}").text
        assert "采样复核" in page and "called the plant" in page


def test_viewers_see_delivery_status_but_not_phone_numbers(world: World) -> None:
    alert_id = raise_alert(world)  # the gas chain texts the safety officer at once
    with client(world) as c:
        login(c, "viewer")
        notes = c.get(f"/api/alerts/{alert_id}").json()["notifications"]
        assert [n["phone"] for n in notes] == ["+86*******0002"]
        assert notes[0]["status"] in ("pending", "sending") and notes[0]["recipient"] == "Daniel Becker"
    with client(world) as c:
        login(c, "operator")
        assert c.get(f"/api/alerts/{alert_id}").json()["notifications"][0]["phone"] == "+8613900000002"


def test_only_inspectors_and_admins_open_enforcement_cases(world: World) -> None:
    alert_id = raise_alert(world)
    body = {"disposition": "enforcement_case"}
    with client(world) as c:
        h = {"X-CSRF-Token": login(c, "operator")}
        assert c.post(f"/api/alerts/{alert_id}/acknowledge", json=body, headers=h).status_code == 403
        assert "enforcement_case" not in c.get(f"/alerts/{alert_id}").text
    with client(world) as c:
        h = {"X-CSRF-Token": login(c, "inspector")}
        assert c.post(f"/api/alerts/{alert_id}/acknowledge", json=body, headers=h).json()["state"] == "acknowledged"


def test_plant_shows_latest_values_with_unit_limit_flag_and_age(world: World) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store_readings(world.database_url, [(now - timedelta(seconds=40), world.devices[WATER], "w20117", 0.04, "N"),
                                        (now - timedelta(seconds=10), world.devices[WATER], "w20117", 0.07, "M")])
    with client(world) as c:
        login(c, "inspector")
        rows = {(r["device_id"], r["pollutant"]): r for r in c.get("/api/plants/T-001").json()["readings"]}
        cr = rows[(world.devices[WATER], "w20117")]
        assert (cr["value"], cr["flag"], cr["unit"], cr["upper_value"]) == (0.07, "M", "mg/L", 0.1)
        assert cr["warning_value"] == pytest.approx(0.08)
        assert 5 <= cr["age_seconds"] < 60
        assert rows[(world.devices[GAS], "s02001")]["value"] is None
        page = c.get("/plants/T-001").text
        assert 'data-pollutant="w20117"' in page and "/static/vendor/uplot/uPlot.iife.min.js" in page


@pytest.mark.parametrize(("range_name", "view", "points"), [
    pytest.param("1h", "readings_1m", (55, 61), id="hour-from-minutes"),
    pytest.param("24h", "readings_1m", (1400, 1441), id="day-from-minutes"),
    pytest.param("7d", "readings_1h", (24, 26), id="week-from-hours"),
    pytest.param("30d", "readings_1h", (24, 26), id="month-from-hours"),
    # 24 hours of readings touch one or two China Standard Time days.
    pytest.param("365d", "readings_1d", (1, 2), id="year-from-days"),
])
def test_chart_series_come_from_the_aggregate_of_the_range(world: World, range_name: str, view: str,
                                                            points: tuple[int, int]) -> None:
    water_history(world, hours=24)
    with client(world) as c:
        login(c, "viewer")
        s = c.get(f"/api/plants/T-001/series?device_id={world.devices[WATER]}&pollutant=w20117&range={range_name}").json()
        assert s["view"] == view
        assert points[0] <= len(s["t"]) <= points[1]
        assert s["t"] == sorted(s["t"]) and min(s["min"]) >= 0.02 and max(s["max"]) <= 0.04
        other = f"/api/plants/T-001/series?device_id={world.devices[OTHER_DEVICE]}&pollutant=w20117&range=1h"
        assert c.get(other).status_code == 404  # a device of another plant under this plant's code


def test_device_health_rates_and_quarantine_in_scope_only(world: World) -> None:
    water_history(world, hours=1, step_seconds=30)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        for mn in (WATER, OTHER_DEVICE):
            conn.execute("INSERT INTO quarantine (transport, source, device_mn, reason, detail, raw)"
                         " VALUES ('mqtt', 'test', %s, 'bad_json', 'unexpected end', 'x')", (mn,))
    with client(world) as c:
        login(c, "viewer")
        data = c.get("/api/health").json()
        devices = {d["mn"]: d for d in data["devices"]}
        assert set(devices) == {WATER, GAS}
        # One of the analyser's three pollutants reported every 30 s for the hour.
        assert devices[WATER]["transmission"] == pytest.approx(1 / 3, abs=0.02)
        assert devices[WATER]["validity"] == 1.0
        # Never seen: no rate at all rather than a 0 % that reads as a broken device.
        assert devices[GAS]["transmission"] is None and devices[GAS]["age_seconds"] is None
        assert [q["device_mn"] for q in data["quarantine"]] == [WATER]
        assert "bad_json" in c.get("/health").text


@pytest.fixture
def reported(world: World) -> int:
    alert_id = raise_alert(world)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        generate_report(conn, alert_id, locale="zh-CN", now=datetime.now(UTC))
    return alert_id


def test_alert_report_opens_as_html_and_pdf_for_users_in_scope(world: World, reported: int) -> None:
    with client(world) as c:
        login(c, "operator")
        html = c.get(f"/alerts/{reported}/report")
        assert html.status_code == 200 and "sandbox" in html.headers["content-security-policy"]
        pdf = c.get(f"/alerts/{reported}/report?format=pdf")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        assert 'id="report-pdf"' in c.get(f"/alerts/{reported}").text
    with client(world) as c:
        login(c, "outsider")
        assert c.get(f"/alerts/{reported}/report").status_code == 404


def test_report_links_open_one_report_and_refuse_tampered_expired_and_revoked(world: World, reported: int) -> None:
    now = datetime.now(UTC)
    token = new_report_link(SECRET, reported, now=now, ttl_seconds=3600)
    with client(world) as c:  # no session: the link alone opens the report
        assert c.get(f"/r/{token}").status_code == 200
        assert c.get(f"/r/{token}?format=pdf").content.startswith(b"%PDF")
        tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        bad = c.get(f"/r/{tampered}")
        assert bad.status_code == 404 and "altered" in c.get(f"/r/{tampered}?lang=en").text
        expired = sign_report_link(SECRET, reported, now - timedelta(seconds=1), issued_at=now - timedelta(days=8))
        assert c.get(f"/r/{expired}?lang=en").status_code == 410
        assert "expired" in c.get(f"/r/{expired}?lang=en").text
        with psycopg.connect(world.database_url, autocommit=True) as conn:
            revoke_report_link(conn, SECRET, token, now=now, actor="test")
        revoked = c.get(f"/r/{token}?lang=en")
        assert revoked.status_code == 410 and "revoked" in revoked.text
        other_key = new_report_link("another-secret-" + "q" * 40, reported, now=now, ttl_seconds=3600)
        assert c.get(f"/r/{other_key}").status_code == 404


def test_admin_changes_are_applied_and_audited(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        r = c.post("/admin/maintenance", data={"csrf_token": csrf, "site": "T-001", "device": WATER,
                                               "starts_at": "2030-01-01T08:00", "ends_at": "2030-01-01T10:00",
                                               "reason": "calibration"}, follow_redirects=False)
        assert r.status_code == 303
        c.post("/admin/recipients", data={"csrf_token": csrf, "code": "li", "name": "李娜", "phone": "+8613911112222",
                                          "locale": "zh-CN", "role": "inspector"})
        bad = c.post("/admin/recipients", data={"csrf_token": csrf, "code": "x", "name": "x", "phone": "12345"})
        assert bad.status_code == 400
        device = c.post("/admin/devices", data={
            "csrf_token": csrf, "site": "T-002", "mn": "310120T002W01", "kind": "water_analyser",
            "point_kind": "outfall", "point_name_zh": "总排口", "point_name_en": "Outfall", "pollutants": "w20117 w01001",
            "interval": "60"})
        secret = device.text.split('id="issued-secret">')[1].split("<")[0]
        assert len(secret) >= 24 and secret not in c.get("/admin").text  # shown once
    window = _events(world.database_url, "SELECT starts_at, device_id IS NOT NULL FROM maintenance_windows")
    assert window == [(datetime(2030, 1, 1, 0, 0, tzinfo=UTC), True)]  # 08:00 in Shanghai
    assert _events(world.database_url, "SELECT pollutants FROM devices WHERE mn = '310120T002W01'") == [
        (["w20117", "w01001"],)]
    audit = _events(world.database_url, "SELECT actor, entity, entity_key FROM audit_log WHERE actor = 'admin' ORDER BY id")
    assert audit == [("admin", "maintenance_window", "1"), ("admin", "recipient", "li"),
                     ("admin", "device", "310120T002W01")]


def test_admin_edits_plants_limits_chains_and_roles(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        post = lambda path, **form: c.post(path, data={"csrf_token": csrf, **form}, follow_redirects=False)  # noqa: E731
        assert post("/admin/plants", code="T-003", name_zh="三厂", name_en="Plant 3", district="t",
                    industry="chemical", latitude="30.91", longitude="121.47").status_code == 303
        assert post("/admin/plants", code="T-004", name_zh="x", name_en="x", district="nowhere",
                    industry="x").status_code == 400
        assert post("/admin/limits", site="T-001", device=WATER, pollutant="w20117", basis="instant",
                    direction="upper", upper="0.05", source="permit 2026").status_code == 303
        assert post("/admin/limits", site="T-001", pollutant="w01001", basis="instant", direction="range",
                    lower="9", upper="6", source="x").status_code == 400
        assert post("/admin/chains", code="night", name="夜间", categories="pollution safety",
                    steps="insp-a:0, lead-c:300", repeat="900").status_code == 303
        assert post("/admin/chains", code="bad", name="x", steps="nobody:0", repeat="60").status_code == 400
        viewer_id = _events(world.database_url, "SELECT id FROM users WHERE username = 'viewer'")[0][0]
        assert post(f"/admin/users/{viewer_id}/role", role="operator", districts="t u").status_code == 303
        own_id = _events(world.database_url, "SELECT id FROM users WHERE username = 'admin'")[0][0]
        assert post(f"/admin/users/{own_id}/role", role="viewer").status_code == 400
    # The new limit is the one the plant page shows (device scope beats the preset); the new role applies.
    with client(world) as v:
        login(v, "viewer")
        rows = v.get("/api/plants/T-001").json()["readings"]
        assert next(r for r in rows if r["pollutant"] == "w20117")["upper_value"] == 0.05
        assert v.get("/api/me").json()["role"] == "operator"
    steps = _events(world.database_url, "SELECT r.code, s.delay_seconds FROM escalation_steps s JOIN escalation_chains c"
                    " ON c.id = s.chain_id JOIN recipients r ON r.id = s.recipient_id WHERE c.code = 'night'"
                    " ORDER BY s.position")
    assert steps == [("insp-a", 0), ("lead-c", 300)]
    entities = _events(world.database_url, "SELECT entity, action FROM audit_log WHERE actor = 'admin' ORDER BY id")
    assert entities == [("site", "create"), ("limit", "create"), ("escalation_chain", "create"),
                        ("user", "change_role")]


def test_openapi_describes_the_json_api(world: World) -> None:
    with client(world) as c:
        paths = c.get("/api/openapi.json").json()["paths"]
        assert c.get("/api/docs").status_code == 404  # FastAPI's Swagger page would load a CDN script
    assert {"/api/overview", "/api/alerts", "/api/alerts/{alert_id}/acknowledge", "/api/plants/{code}/series",
            "/api/health", "/api/events"} <= set(paths)
    assert not any(p.startswith("/admin") or p == "/login" for p in paths)


def test_live_events_reach_the_browsers_of_the_plant_within_two_seconds(world: World) -> None:
    with Served(create_app(world.settings)) as served:
        streams: dict[str, queue.Queue[tuple[float, dict[str, Any]]]] = {}
        stop = threading.Event()
        for name in ("operator", "outsider"):
            streams[name] = queue.Queue()
            cookie = session_cookie(served.url, name)
            threading.Thread(target=read_events, args=(served.url, cookie, streams[name], stop), daemon=True).start()
            assert streams[name].get(timeout=5)[1]["event"] == "connected"
        started = time.monotonic()
        alert_id = raise_alert(world)
        at, event = streams["operator"].get(timeout=2)
        while event["event"] != "alert":
            at, event = streams["operator"].get(timeout=2)
        assert at - started < 2.0
        assert (event["id"], event["state"], event["severity"], event["site"]) == (alert_id, "open", "level2", "T-001")
        # The outsider's own district's alert comes after; events keep their order, so one about
        # district t, had it leaked, would be in the outsider's stream before it.
        raise_alert(world, OTHER_DEVICE, "w20117", 0.5, samples=3)
        seen: list[dict[str, Any]] = []
        while not any(e["event"] == "alert" for e in seen):
            seen.append(streams["outsider"].get(timeout=30)[1])
        assert [e for e in seen if e.get("id") == alert_id or e.get("site") == "T-001"] == []
        stop.set()


def test_event_stream_ends_when_the_session_ends(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dashboard.api.KEEPALIVE_SECONDS", 0.3)
    with Served(create_app(world.settings)) as served:
        cookie = session_cookie(served.url, "viewer")
        events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        stop = threading.Event()
        reader = threading.Thread(target=read_events, args=(served.url, cookie, events, stop), daemon=True)
        reader.start()
        assert events.get(timeout=5)[1]["event"] == "connected"
        with psycopg.connect(world.database_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET disabled = true WHERE username = 'viewer'")
        reader.join(5)
        assert not reader.is_alive()  # the server closed the stream


def test_the_event_listener_reconnects_after_losing_its_database_connection(world: World) -> None:
    with Served(create_app(world.settings)) as served:
        events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        stop = threading.Event()
        threading.Thread(target=read_events, args=(served.url, session_cookie(served.url, "operator"), events, stop),
                         daemon=True).start()
        assert events.get(timeout=5)[1]["event"] == "connected"
        (old,) = _listeners(world.database_url)
        _events(world.database_url, "SELECT pg_terminate_backend(%s)", old)
        deadline = time.monotonic() + patience(30)
        # The new connection is ready once its LISTEN has run, not when it merely appears.
        while time.monotonic() < deadline and _listeners(world.database_url, listening=True) in ([], [old]):
            time.sleep(0.1)
        alert_id = raise_alert(world)
        seen: list[dict[str, Any]] = []
        while not any(e.get("id") == alert_id for e in seen):
            seen.append(events.get(timeout=5)[1])  # the browser's stream survived; the event arrives
        stop.set()


def _listeners(database_url: str, *, listening: bool = False) -> list[int]:
    sql = "SELECT pid FROM pg_stat_activity WHERE application_name = 'envmon-dashboard-events'"
    rows = _events(database_url, sql + (" AND query ILIKE 'LISTEN%%'" if listening else ""))
    return [int(r[0]) for r in rows]


@pytest.fixture
def reported_both(world: World) -> int:
    alert_id = raise_alert(world)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        for locale in ("zh-CN", "en"):
            generate_report(conn, alert_id, locale=locale, now=datetime.now(UTC))
    return alert_id


def _legacy_token(alert_id: int, now: datetime) -> str:
    """A version 1 link, as envmon texted them before links named a language."""
    payload = links._PAYLOAD_V1.pack(1, alert_id, int(now.timestamp()), int(now.timestamp()) + 3600, b"\x02" * 6)
    return f"{encode_b64url(payload)}.{encode_b64url(purpose_mac(SECRET, links.PURPOSE, payload))}"


def _bar_link(page: str, anchor_id: str) -> str:
    start = page.index(f'id="{anchor_id}" href="') + len(f'id="{anchor_id}" href="')
    return page[start:page.index('"', start)].replace("&amp;", "&")


@pytest.mark.parametrize(("locale", "other"), [pytest.param("en", "zh-CN", id="english-recipient"),
                                               pytest.param("zh-CN", "en", id="chinese-recipient")])
def test_a_report_link_opens_in_the_recipients_language_with_pdf_and_other_language(
    world: World, reported_both: int, locale: str, other: str
) -> None:
    token = new_report_link(SECRET, reported_both, now=datetime.now(UTC), ttl_seconds=3600, locale=locale)
    with client(world) as c:  # no session: the link alone
        page = c.get(f"/r/{token}")
        assert page.status_code == 200 and f'<html lang="{locale}">' in page.text
        # ?lang= cannot turn a signed link into the other language's report.
        assert f'<html lang="{locale}">' in c.get(f"/r/{token}?lang={other}").text
        pdf = c.get(_bar_link(page.text, "report-pdf"))
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        assert f"-{locale}.pdf" in pdf.headers["content-disposition"]
        switched = c.get(_bar_link(page.text, "report-other-language"))
        assert switched.status_code == 200 and f'<html lang="{other}">' in switched.text
        with psycopg.connect(world.database_url, autocommit=True) as conn:
            revoke_report_link(conn, SECRET, token, now=datetime.now(UTC), actor="test")
        assert c.get(_bar_link(page.text, "report-other-language")).status_code == 410  # revoked together


def test_a_link_texted_before_links_named_a_language_still_opens_in_chinese(world: World, reported_both: int) -> None:
    token = _legacy_token(reported_both, datetime.now(UTC))
    with client(world) as c:
        assert '<html lang="zh-CN">' in c.get(f"/r/{token}").text
        assert '<html lang="en">' in c.get(f"/r/{token}?lang=en").text


def test_plant_chart_draws_the_registry_lines_including_gas_level_2(world: World) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    reading = (now - timedelta(seconds=10), world.devices[WATER], "w20117", 0.26081240000000006, "N")
    store_readings(world.database_url, [reading])
    with client(world) as c:
        login(c, "inspector")
        rows = {(r["device_id"], r["pollutant"]): r for r in c.get("/api/plants/T-001").json()["readings"]}
        gas = rows[(world.devices[GAS], "s02001")]
        assert gas["lines"] == [{"kind": "level1", "value": 6.6}, {"kind": "level2", "value": 13.2}]
        water = rows[(world.devices[WATER], "w20117")]
        assert water["lines"] == [{"kind": "warning", "value": 0.08}, {"kind": "limit", "value": 0.1}]
        assert water["value"] == 0.2608  # rounded for people, as the page and the report write it
        page = c.get("/plants/T-001").text
        assert '<li class="line-level2" data-kind="level2">二级报警 13.2</li>' in page
        assert '<td class="value" data-label="数值">0.2608</td>' in page


def test_an_alert_nobody_was_texted_shows_why_on_its_page_in_both_languages(world: World) -> None:
    """Issue 15 §3: the suppression reason recorded in the outbox is shown on the alert."""
    with psycopg.connect(world.database_url) as conn:
        conn.execute("INSERT INTO silences (site_id, starts_at, ends_at, reason, created_by)"
                     " VALUES (%s, now() - interval '1 minute', now() + interval '1 hour', '停产检修', 'test')",
                     [world.sites["T-001"]])
    alert_id = raise_alert(world)
    with client(world) as c:
        csrf = login(c, "operator")
        detail = c.get(f"/api/alerts/{alert_id}").json()
        assert detail["not_sent_because"] == "silenced: 停产检修"
        assert [n["suppressed_by"] for n in detail["notifications"]] == ["silenced: 停产检修"]
        page = c.get(f"/alerts/{alert_id}").text
        assert "未发送: 已静默: 停产检修" in page
        c.post("/locale", data={"locale": "en", "csrf_token": csrf, "back": "/"})
        assert "Not sent: silenced: 停产检修" in c.get(f"/alerts/{alert_id}").text


def test_an_alert_that_was_texted_shows_no_reason(world: World) -> None:
    alert_id = raise_alert(world)
    with client(world) as c:
        login(c, "operator")
        assert c.get(f"/api/alerts/{alert_id}").json()["not_sent_because"] is None
        assert 'id="not-sent"' not in c.get(f"/alerts/{alert_id}").text
