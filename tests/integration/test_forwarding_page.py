"""The upstream forwarding page (/forwarding) over HTTP: administrators see every target, an inspector the targets
of their plants with routes and backlog counted over those plants only, operators and viewers get 403 and no
link; the connection state comes from the forward service's heartbeat."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from envmon.words import word
from ingest.forward.config import DeviceRoute, TargetConfig, store_targets
from tests.alert_helpers import WATER
from tests.browser.world import OTHER_DEVICE, World, build_world, client, login, store_readings


def route_and_queue(world: World, now: datetime) -> None:
    """Two targets: `province` takes the inspector's water analyser (real-time and hourly) and the other
    district's device (daily only), `national` only the other device; each queued reading waited 2 h.
    The province's forward service reported a minute ago, connected, after a resend and one lost session."""
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        store_targets(conn, [
            TargetConfig("province", "10.20.30.40", 9212, "2017", (
                DeviceRoute(WATER, "33010200000001W01", "pw-1", ("instant", "hour")),
                DeviceRoute(OTHER_DEVICE, "33010200000002W01", "pw-2", ("day",)))),
            TargetConfig("national", "10.9.9.9", 9213, "2017", (
                DeviceRoute(OTHER_DEVICE, "11000000000002W01", "pw-3", ("instant",)),)),
        ])
    water, other = world.devices[WATER], world.devices[OTHER_DEVICE]
    store_readings(world.database_url, [(now - timedelta(minutes=m), water, "w20117", 0.05, "N") for m in (1, 2, 3)]
                   + [(now - timedelta(minutes=m), other, "w20117", 0.02, "N") for m in (1, 2)])
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        conn.execute("UPDATE forward_queue SET queued_at = %s", (now - timedelta(hours=2),))
        conn.execute(
            "INSERT INTO forward_progress (target_id, acked_frames, last_acked_at, connected, state_since,"
            " reported_at, last_error, last_error_at, sent_frames, resent_frames)"
            " SELECT id, 10, %(ack)s, true, %(ack)s, %(seen)s, 'upstream 10.20.30.40:9212: ConnectionResetError()',"
            " %(ack)s, 12, 2 FROM forward_targets WHERE name = 'province'",
            {"ack": now - timedelta(minutes=30), "seen": now - timedelta(seconds=5)})


@pytest.fixture
def world(database_url: str) -> World:
    built = build_world(database_url)
    route_and_queue(built, datetime.now(UTC))
    return built


@pytest.fixture
def web(world: World) -> Iterator[TestClient]:
    with client(world) as c:
        yield c


def row_of(html: str, target: str) -> str | None:
    found = re.search(rf'<tr data-target="{target}"[^>]*>(.*?)</tr>', html, re.S)
    return None if found is None else found.group(0)


def cell_text(row: str, name: str) -> str:
    found = re.search(rf'class="{name}">(.*?)</td>', row, re.S)
    assert found, (name, row)
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def cell(row: str, name: str) -> str:
    return cell_text(row, name).split()[0]


def test_an_administrator_sees_every_target_with_backlog_lag_state_and_counters(web: TestClient) -> None:
    login(web, "admin")
    r = web.get("/forwarding")
    assert r.status_code == 200
    locale = "zh-CN" if 'lang="zh-CN"' in r.text else "en"
    province, national = row_of(r.text, "province"), row_of(r.text, "national")
    assert province is not None and national is not None
    assert (cell(province, "devices"), cell(province, "backlog")) == ("2", "3")
    assert (cell(national, "devices"), cell(national, "backlog")) == ("1", "2")
    assert 'data-state="connected"' in province and "10.20.30.40:9212" in province
    assert 'data-state="not_reporting"' in national  # its service never reported
    words = {k: word(locale, "forward_page", k) for k in ("sent", "acked", "resent")}
    assert cell_text(province, "frames") == f"{words['sent']} 12 · {words['acked']} 10 · {words['resent']} 2"
    assert cell_text(national, "frames") == f"{words['sent']} 0 · {words['acked']} 0 · {words['resent']} 0"
    assert "ConnectionResetError" in province
    assert "pw-1" not in r.text and "33010200000001W01" not in r.text  # upstream secrets never shown
    for code in ("instant", "hour", "day"):
        assert word(locale, "forward_data", code) in r.text
    assert word(locale, "forward_page", "config_note") in r.text
    assert 'href="/forwarding"' in r.text


def test_an_inspector_sees_only_the_targets_and_devices_of_their_plants(web: TestClient) -> None:
    login(web, "inspector")  # plant T-001 only: the water analyser
    r = web.get("/forwarding")
    assert r.status_code == 200
    province = row_of(r.text, "province")
    assert province is not None and row_of(r.text, "national") is None
    assert (cell(province, "devices"), cell(province, "backlog")) == ("1", "3")
    assert 'id="forward-scope-note"' in r.text


def test_roles_without_the_right_get_403_and_no_link_and_no_session_goes_to_the_login(world: World) -> None:
    for username in ("operator", "viewer", "outsider"):
        with client(world) as web:
            login(web, username)
            assert web.get("/forwarding").status_code == 403, username
            home = web.get("/")
            assert home.status_code == 200 and 'href="/forwarding"' not in home.text, username
    with client(world) as web:
        r = web.get("/forwarding", follow_redirects=False)
        assert r.status_code in (302, 303, 307) and "/login" in r.headers["location"]
