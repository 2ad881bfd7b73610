"""The enterprise file through the dashboard: shown on the plant page, scoped, uploads checked, edits audited."""

from __future__ import annotations

import psycopg
import pytest

from envmon.registry.permits import derive_permit_limits
from tests.alert_helpers import WATER
from tests.browser.world import World, build_world, client, login
from tests.unit.test_documents import PDF

PERMIT = "91310120T00000001X001P"


def add_permit(world: World, site: str = "T-001", mn: str = WATER) -> None:
    """A permit of the plant with one outlet (DW001) at the device, no limits yet."""
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        permit = conn.execute(
            "INSERT INTO permits (site_id, number, issued_by, valid_from, valid_to) VALUES (%s, %s, '奉贤区生态环境局',"
            " '2024-01-01', '2099-12-31') RETURNING id", (world.sites[site], PERMIT)).fetchone()
        assert permit is not None
        conn.execute("INSERT INTO permit_outlets (permit_id, code, name_zh, name_en, device_ids) VALUES"
                     " (%s, 'DW001', '车间排口', 'Workshop outlet', %s)", (permit[0], [world.devices[mn]]))


@pytest.fixture
def world(database_url: str) -> World:
    w = build_world(database_url)
    add_permit(w)
    return w


def _upload(c: object, csrf: str, code: str, name: str, body: bytes) -> int:
    r = c.post(f"/plants/{code}/documents", params={"filename": name, "category": "permit"},  # type: ignore[attr-defined]
               content=body, headers={"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"})
    return int(r.status_code)


def test_inspector_uploads_a_pdf_and_it_comes_back_as_an_inert_attachment(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "inspector")
        assert _upload(c, csrf, "T-001", "许可证正本.pdf", PDF) == 201
        page = c.get("/plants/T-001")
        assert "许可证正本.pdf" in page.text
        doc_id = page.text.split('data-document="')[1].split('"')[0]
        r = c.get(f"/plants/T-001/documents/{doc_id}")
    assert r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    with psycopg.connect(world.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE entity = 'site_document'").fetchone() == (1,)


@pytest.mark.parametrize(
    ("user", "code", "name", "body", "status"),
    [
        pytest.param("inspector", "U-001", "a.pdf", PDF, 404, id="plant-outside-scope"),
        pytest.param("viewer", "T-001", "a.pdf", PDF, 403, id="viewer-may-not-upload"),
        pytest.param("operator", "T-001", "a.pdf", PDF, 403, id="operator-may-not-upload"),
        pytest.param("inspector", "T-001", "a.pdf", b"<html><script>alert(1)</script>", 422, id="html-disguised"),
        pytest.param("inspector", "T-001", "a.html", PDF, 422, id="name-disagrees"),
    ],
)
def test_upload_refusals(world: World, user: str, code: str, name: str, body: bytes, status: int) -> None:
    with client(world) as c:
        csrf = login(c, user)
        assert _upload(c, csrf, code, name, body) == status
    with psycopg.connect(world.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM site_documents").fetchone() == (0,)


def test_upload_without_csrf_token_is_refused(world: World) -> None:
    with client(world) as c:
        login(c, "inspector")
        assert _upload(c, "wrong", "T-001", "a.pdf", PDF) == 403


def test_another_districts_operator_cannot_read_the_document(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        assert _upload(c, csrf, "T-001", "a.pdf", PDF) == 201
    with psycopg.connect(world.database_url) as conn:
        doc = conn.execute("SELECT id FROM site_documents").fetchone()
    assert doc is not None
    with client(world) as c:
        login(c, "outsider")
        assert c.get(f"/plants/T-001/documents/{doc[0]}").status_code == 404
        assert c.get(f"/plants/U-001/documents/{doc[0]}").status_code == 404  # the id under a plant it sees


def test_inspector_records_enforcement_and_the_plant_page_shows_it(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "inspector")
        r = c.post("/plants/T-001/enforcement", data={
            "csrf_token": csrf, "decided_on": "2026-03-02", "kind": "penalty", "case_number": "奉环罚〔2026〕12号",
            "penalty_yuan": "200000", "status": "open", "summary": "六价铬超标"}, follow_redirects=False)
        assert r.status_code == 303 and "error" not in r.headers["location"]
        page = c.get("/plants/T-001")
        c.post("/locale", data={"csrf_token": csrf, "locale": "en"})
        english = c.get("/plants/T-001")
    assert 'data-case="奉环罚〔2026〕12号"' in page.text and "罚款" in page.text and "200000" in page.text
    assert "Enforcement records" in english.text and ">fine<" in english.text
    with client(world) as c:
        csrf = login(c, "viewer")
        r = c.post("/plants/T-001/enforcement", data={"csrf_token": csrf, "decided_on": "2026-03-02",
                                                      "kind": "penalty", "case_number": "x", "status": "open"})
        assert r.status_code == 403


def test_admin_sets_a_stricter_permit_limit_and_it_is_in_force_with_its_source(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        r = c.post("/plants/T-001/permit-limits", data={
            "csrf_token": csrf, "permit": PERMIT, "outlet": "DW001", "pollutant": "w20117", "basis": "day",
            "upper": "0.05"}, follow_redirects=False)
        assert r.status_code == 303 and "error" not in r.headers["location"]
        page = c.get("/plants/T-001")
    assert f"排污许可证 {PERMIT} DW001" in page.text
    with psycopg.connect(world.database_url) as conn:
        row = conn.execute("SELECT upper_value, scope, source FROM limits WHERE permit_id IS NOT NULL").fetchone()
        assert row == (0.05, "device", f"排污许可证 {PERMIT} DW001")
        # A looser value leaves Table 3's 0.1 mg/L in force alone.
        conn.execute("UPDATE permit_limits SET upper_value = 0.3")
        assert derive_permit_limits(conn, world.sites["T-001"]) == 0
        assert conn.execute("SELECT count(*) FROM limits WHERE permit_id IS NOT NULL").fetchone() == (0,)


def test_plant_file_is_scoped(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "outsider")
        assert c.get("/plants/T-001").status_code == 404
        r = c.post("/plants/T-001/permit-limits", data={"csrf_token": csrf, "permit": PERMIT, "outlet": "DW001",
                                                        "pollutant": "w20117", "upper": "0.01"})
        assert r.status_code == 403
    with psycopg.connect(world.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM permit_limits").fetchone() == (0,)


def test_admin_creates_a_permit_with_an_outlet_and_its_limit_takes_force(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        r = c.post("/plants/T-001/permits", data={
            "csrf_token": csrf, "number": "P-NEW-001", "issued_by": "奉贤区生态环境局", "valid_from": "2025-01-01",
            "valid_to": "2029-12-31", "outlet": "DW009", "outlet_name_zh": "车间排口", "outlet_name_en": "Workshop",
            "devices": WATER}, follow_redirects=False)
        assert r.status_code == 303 and "error" not in r.headers["location"]
        foreign = c.post("/plants/T-001/permits", data={
            "csrf_token": csrf, "number": "P-NEW-002", "valid_from": "2025-01-01", "valid_to": "2029-12-31",
            "outlet": "DW010", "devices": "310120U001W01"}, follow_redirects=False)
        assert "error=" in foreign.headers["location"]  # a device of another plant
        c.post("/plants/T-001/permit-limits", data={"csrf_token": csrf, "permit": "P-NEW-001", "outlet": "DW009",
                                                    "pollutant": "w20117", "basis": "day", "upper": "0.06"})
        assert "P-NEW-001" in c.get("/plants/T-001").text
    with psycopg.connect(world.database_url) as conn:
        assert conn.execute("SELECT upper_value, source FROM limits WHERE permit_id IS NOT NULL").fetchall() == [
            (0.06, "排污许可证 P-NEW-001 DW009")]
        assert conn.execute("SELECT count(*) FROM permits WHERE number = 'P-NEW-002'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM audit_log WHERE entity IN ('permit', 'permit_limit')").fetchone() == (2,)
