"""Administration edits (issue 18): a plant's details are edited with the creation's validation, plants,
devices and recipients are deactivated instead of deleted, and every change has its audit entry."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.alert_helpers import WATER
from tests.browser.world import World, build_world, client, login


@pytest.fixture
def world(database_url: str) -> World:
    return build_world(database_url)


def _rows(world: World, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(world.database_url) as conn:
        return conn.execute(sql, params).fetchall()


EDIT = {"name_zh": "测试一厂（新）", "name_en": "Test plant 1 (new)", "district": "t", "industry": "chemical",
        "latitude": "30.91", "longitude": "121.46"}


def test_a_plant_is_edited_and_the_audit_log_keeps_before_and_after(world: World) -> None:
    [(old_name,)] = _rows(world, "SELECT name_zh FROM sites WHERE code = 'T-001'")
    with client(world) as c:
        csrf = login(c, "admin")
        page = c.get("/admin").text
        assert '<label for="pz-T-001">' in page and 'id="pz-T-001"' in page  # a visible label per field
        r = c.post("/admin/plants/T-001/edit", data={**EDIT, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert _rows(world, "SELECT name_zh, name_en, industry, latitude FROM sites WHERE code = 'T-001'") == [
        ("测试一厂（新）", "Test plant 1 (new)", "chemical", 30.91)]
    [(action, detail)] = _rows(world, "SELECT action, detail FROM audit_log WHERE entity = 'site' AND entity_key = 'T-001'")
    assert action == "update" and detail["name_zh"] == {"before": old_name, "after": "测试一厂（新）"}


@pytest.mark.parametrize(("change", "status"), [
    pytest.param({"industry": "mining"}, 400, id="unknown-industry"),
    pytest.param({"district": "nowhere"}, 400, id="unknown-district"),
    pytest.param({"name_en": ""}, 400, id="missing-english-name"),
    pytest.param({"latitude": "30.9", "longitude": ""}, 400, id="half-a-position"),
    pytest.param({"longitude": "200", "latitude": "30"}, 400, id="longitude-out-of-range"),
])
def test_an_invalid_plant_edit_is_refused_and_changes_nothing(world: World, change: dict[str, str], status: int) -> None:
    before = _rows(world, "SELECT * FROM sites WHERE code = 'T-001'")
    with client(world) as c:
        csrf = login(c, "admin")
        r = c.post("/admin/plants/T-001/edit", data={**EDIT, **change, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == status and 'id="admin-error"' in r.text
    assert _rows(world, "SELECT * FROM sites WHERE code = 'T-001'") == before
    assert _rows(world, "SELECT count(*) FROM audit_log WHERE entity = 'site'") == [(0,)]


def test_editing_an_unknown_plant_is_not_found(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        assert c.post("/admin/plants/NOPE/edit", data={**EDIT, "csrf_token": csrf}).status_code == 404
        assert c.post("/admin/devices/NOPE/active", data={"active": "0", "csrf_token": csrf}).status_code == 404
        assert c.post("/admin/users/1/active", data={"active": "0", "csrf_token": csrf}).status_code in (404, 405, 422)


@pytest.mark.parametrize(("entity", "table", "column", "key"), [
    pytest.param("devices", "devices", "mn", WATER, id="device"),
    pytest.param("sites", "sites", "code", "T-001", id="plant"),
    pytest.param("recipients", "recipients", "code", "insp-a", id="recipient"),
])
def test_deactivation_keeps_the_row_and_is_audited(world: World, entity: str, table: str, column: str, key: str) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        r = c.post(f"/admin/{entity}/{key}/active", data={"active": "0", "csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert _rows(world, f"SELECT active FROM {table} WHERE {column} = %s", key) == [(False,)]
        c.post(f"/admin/{entity}/{key}/active", data={"active": "1", "csrf_token": csrf})
    assert _rows(world, f"SELECT active FROM {table} WHERE {column} = %s", key) == [(True,)]
    assert _rows(world, "SELECT action FROM audit_log WHERE entity_key = %s ORDER BY id", key) == [
        ("deactivate",), ("activate",)]


def test_a_deactivated_device_leaves_the_plant_page(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        assert WATER in c.get("/plants/T-001").text
        c.post(f"/admin/devices/{WATER}/active", data={"active": "0", "csrf_token": csrf})
        assert WATER not in c.get("/plants/T-001").text
