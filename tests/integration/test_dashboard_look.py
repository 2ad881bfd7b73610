"""What operators and inspectors see (issue 18), against the real database: device health counted from first
seen and paged on the server, the alert page's incident chart, disposition default and plant contacts, and
the chart API's comparison period."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.alert_helpers import GAS, WATER
from tests.browser.world import World, build_world, client, login, raise_alert, store_readings, water_history


@pytest.fixture
def world(database_url: str) -> World:
    return build_world(database_url)


def test_a_device_seen_ten_minutes_ago_that_sent_everything_shows_full_transmission(world: World) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    # The gas detector reports s02001 every 5 s; it came on line ten minutes ago and missed nothing.
    store_readings(world.database_url, [(now - timedelta(seconds=s), world.devices[GAS], "s02001", 1.0, "N")
                                        for s in range(0, 600, 5)])
    with client(world) as c:
        login(c, "operator")
        devices = {d["mn"]: d for d in c.get("/api/health").json()["devices"]}
    # Counted over the last hour it would be 120 of 720 expected: 17 %.
    assert devices[GAS]["transmission"] == pytest.approx(1.0, abs=0.03)


def test_health_is_filtered_sorted_and_paged_on_the_server(world: World) -> None:
    water_history(world, hours=1, step_seconds=30)
    with client(world) as c:
        login(c, "admin")
        by_transmission = c.get("/api/health?sort=transmission&dir=desc").json()
        assert [d["mn"] for d in by_transmission["devices"]][0] == WATER
        never_seen_last = c.get("/api/health?sort=transmission").json()["devices"]
        assert never_seen_last[-1]["transmission"] is None
        one = c.get("/api/health?per_page=25&status=online").json()
        assert [d["mn"] for d in one["devices"]] == [WATER] and one["total"] == 1
        found = c.get("/api/health?q=U-001").json()
        assert {d["site_code"] for d in found["devices"]} == {"U-001"}
        assert c.get("/api/health?per_page=7").status_code == 400
        html = c.get("/health?group=1&sort=device").text
        assert 'data-group="T-001"' in html and 'data-group="U-001"' in html
        assert 'aria-sort="ascending"' in html


def test_alert_page_preselects_the_disposition_of_its_kind_and_offers_the_plants_phone(world: World) -> None:
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        conn.execute("UPDATE sites SET contacts = %s WHERE code = 'T-001'",
                     (json.dumps([{"name": "王工", "role": "环保负责人", "phone": "+8613800000009"}]),))
    gas = raise_alert(world)
    water = raise_alert(world, WATER, "w20117", 0.5, samples=3)
    with client(world) as c:
        login(c, "operator")
        gas_page = c.get(f"/alerts/{gas}").text
        assert '<option value="confirmed" selected>确认报警</option>' in gas_page
        assert "确认超标" not in gas_page
        assert 'href="tel:+8613800000009"' in gas_page
        assert '<option value="confirmed" selected>确认超标</option>' in c.get(f"/alerts/{water}").text
    with client(world) as c:
        login(c, "viewer")
        assert "tel:" not in c.get(f"/alerts/{gas}").text  # viewers watch; they call no one


def test_incident_series_has_the_readings_around_the_breach_and_the_limit_lines(world: World) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store_readings(world.database_url, [(now - timedelta(minutes=m), world.devices[GAS], "s02001", 2.0, "N")
                                        for m in (5, 30, 59, 90)])
    alert_id = raise_alert(world)
    with client(world) as c:
        login(c, "operator")
        s = c.get(f"/api/alerts/{alert_id}/series").json()
        assert len(s["t"]) == 4  # the readings of the hour before (not the one 90 min before) and the breach
        assert s["value"][-1] == 20.0 and s["opened_at"] >= s["t"][0]
        assert [line["kind"] for line in s["lines"]] == ["level1", "level2"]
    with client(world) as c:
        login(c, "outsider")
        assert c.get(f"/api/alerts/{alert_id}/series").status_code == 404


def test_series_of_the_period_before_for_comparison(world: World) -> None:
    water_history(world, hours=2)
    with client(world) as c:
        login(c, "operator")
        base = f"/api/plants/T-001/series?device_id={world.devices[WATER]}&pollutant=w20117&range=1h"
        now, before = c.get(base).json(), c.get(base + "&periods_back=1").json()
        assert now["t"] and before["t"] and max(before["t"]) <= min(now["t"])
        assert c.get(base + "&periods_back=13").status_code == 422
