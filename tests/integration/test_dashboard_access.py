"""Access matrix: every dashboard route x every role (and no session), with ids inside and outside the
user's scope. Nothing answers 2xx (or a successful redirect) unless the role and the scope allow it, and
everything the role and scope allow does succeed (or meets the alert's lifecycle, 409)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from alerts.reports.store import generate_report
from dashboard.app import route_table
from tests.alert_helpers import WATER
from tests.browser.world import OTHER_DEVICE, USERS, World, build_world, client, login, raise_alert

ROLES = [*USERS, None]  # None: no session
# Covered elsewhere: public pages (login, report links, the OpenAPI description), the session's own
# logout and language switch (test_dashboard_security.py), and the endless event stream (test_dashboard_api.py).
NOT_IN_MATRIX = {
    ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("POST", "/locale"), ("GET", "/r/{token}"),
    ("GET", "/api/events"),
    # The enterprise file's routes: scope and role refusals in test_enterprise_file_dashboard.py.
    ("GET", "/plants/{code}/documents/{document_id}"), ("POST", "/plants/{code}/documents"),
    ("POST", "/plants/{code}/enforcement"), ("POST", "/plants/{code}/permit-limits"),
    ("POST", "/plants/{code}/permits"),
    # The plant's answer: the public link form and the inspector's decision (test_plant_answer.py).
    ("GET", "/a/{token}"), ("POST", "/a/{token}"),
    ("POST", "/alerts/{alert_id}/answer/accept"), ("POST", "/alerts/{alert_id}/answer/ask-again"),
    ("POST", "/a/{token}/attachments"), ("GET", "/alerts/{alert_id}/answer-files/{file_id}"),
    # Data review and validity KPIs (own roles: data.review, data.approve, and the four-eyes rule):
    # tests/integration/test_review_routes.py and tests/browser/test_review_browser.py.
    ("GET", "/review"), ("POST", "/review"), ("POST", "/review/{mark_id}/{decision}"), ("GET", "/kpi"),
    ("GET", "/kpi.csv"), ("GET", "/api/kpi"), ("GET", "/api/review/marks"), ("POST", "/api/review/marks"),
    ("POST", "/api/review/marks/{mark_id}/{decision}"),
    # Upstream forwarding (role forward.read, scoped targets): tests/integration/test_forwarding_page.py.
    ("GET", "/forwarding"),
}
ACT = {"operator", "inspector", "admin", "outsider"}


@dataclass(frozen=True)
class Spec:
    """One route: what it needs (read, act, admin) and how to call it."""

    need: str
    body: Callable[[int], dict[str, Any]] | None = None
    json: bool = False
    scoped: bool = True


def _n() -> Iterator[int]:
    return itertools.count(1)


COUNTER = _n()
FORM_ACK: Callable[[int], dict[str, Any]] = lambda _: {"disposition": "false_alarm", "note": "matrix"}  # noqa: E731
ROUTES: dict[tuple[str, str], Spec] = {
    ("GET", "/"): Spec("read", scoped=False),
    ("GET", "/alerts"): Spec("read", scoped=False),
    ("GET", "/health"): Spec("read", scoped=False),
    ("GET", "/alerts/{alert_id}"): Spec("read"),
    ("GET", "/alerts/{alert_id}/report"): Spec("read"),
    ("GET", "/plants/{code}"): Spec("read"),
    ("POST", "/alerts/{alert_id}/acknowledge"): Spec("act", FORM_ACK),
    ("POST", "/alerts/{alert_id}/note"): Spec("act", lambda _: {"note": "matrix"}),
    ("POST", "/alerts/{alert_id}/resolve"): Spec("act", lambda _: {"reason": "matrix"}),
    ("GET", "/api/me"): Spec("read", scoped=False),
    ("GET", "/api/overview"): Spec("read", scoped=False),
    ("GET", "/api/alerts"): Spec("read", scoped=False),
    ("GET", "/api/health"): Spec("read", scoped=False),
    ("GET", "/api/alerts/{alert_id}"): Spec("read"),
    ("GET", "/api/alerts/{alert_id}/series"): Spec("read"),
    ("GET", "/api/plants/{code}"): Spec("read"),
    ("GET", "/api/plants/{code}/series"): Spec("read"),
    ("GET", "/exports"): Spec("read", scoped=False),
    ("GET", "/exports/download"): Spec("read"),
    ("POST", "/api/alerts/{alert_id}/acknowledge"): Spec("act", FORM_ACK, json=True),
    ("POST", "/api/alerts/{alert_id}/note"): Spec("act", lambda _: {"note": "matrix"}, json=True),
    ("POST", "/api/alerts/{alert_id}/resolve"): Spec("act", lambda _: {"reason": "matrix"}, json=True),
    ("GET", "/admin"): Spec("admin", scoped=False),
    ("POST", "/admin/users"): Spec("admin", lambda n: {"username": f"matrix{n}", "role": "viewer"}, scoped=False),
    ("POST", "/admin/users/{user_id}/disable"): Spec("admin", scoped=False),
    ("POST", "/admin/users/{user_id}/role"): Spec("admin", lambda _: {"role": "viewer", "districts": "t"}, scoped=False),
    ("POST", "/admin/plants"): Spec("admin", lambda n: {
        "code": f"M-{n}", "name_zh": "厂", "name_en": "Plant", "district": "t", "industry": "chemical"}, scoped=False),
    ("POST", "/admin/plants/{code}/edit"): Spec("admin", lambda _: {
        "name_zh": "厂", "name_en": "Plant", "district": "t", "industry": "chemical"}, scoped=False),
    ("POST", "/admin/{entity}/{key}/active"): Spec("admin", lambda _: {"active": "1"}, scoped=False),
    ("POST", "/admin/limits"): Spec("admin", lambda _: {
        "site": "T-001", "pollutant": "w20117", "basis": "instant", "direction": "upper", "upper": "0.2",
        "source": "permit"}, scoped=False),
    ("POST", "/admin/chains"): Spec("admin", lambda n: {
        "code": f"matrix{n}", "name": "M", "categories": "pollution", "steps": "insp-a:0", "repeat": "600"},
        scoped=False),
    ("POST", "/admin/users/{user_id}/enable"): Spec("admin", scoped=False),
    ("POST", "/admin/maintenance"): Spec("admin", lambda _: {
        "site": "T-001", "starts_at": "2030-01-01T08:00", "ends_at": "2030-01-01T10:00", "reason": "matrix"},
        scoped=False),
    ("POST", "/admin/maintenance/{window_id}/end"): Spec("admin", scoped=False),
    ("POST", "/admin/recipients"): Spec("admin", lambda n: {
        "code": f"matrix{n}", "name": "M", "phone": f"+86139000{n:05d}", "locale": "en"}, scoped=False),
    ("GET", "/admin/{kind}/{key}/edit"): Spec("admin", scoped=False),
    ("POST", "/admin/devices/{mn}/edit"): Spec("admin", lambda _: {
        "point_kind": "outfall", "point_name_zh": "排口", "point_name_en": "Outfall", "pollutants": "w20117",
        "interval": "60"}, scoped=False),
    ("POST", "/admin/recipients/{code}/edit"): Spec("admin", lambda n: {
        "name": f"M{n}", "phone": "+8613900000001", "locale": "en"}, scoped=False),
    ("POST", "/admin/chains/{code}/edit"): Spec("admin", lambda n: {
        "name": f"M{n}", "category_pollution": "1", "steps": "insp-a:0", "repeat": "600"}, scoped=False),
    ("POST", "/admin/limits/{limit_id}/edit"): Spec("admin", lambda n: {
        "direction": "upper", "upper": str(n), "source": "matrix"}, scoped=False),
    ("POST", "/admin/limits/{limit_id}/end"): Spec("admin", scoped=False),
    ("POST", "/admin/devices"): Spec("admin", lambda n: {
        "site": "T-001", "mn": f"310120M{n:05d}", "kind": "water_analyser", "point_kind": "outfall",
        "point_name_zh": "排口", "point_name_en": "Outfall", "pollutants": "w20117", "interval": "60"}, scoped=False),
}


@pytest.fixture
def world(database_url: str) -> World:
    w = build_world(database_url)
    raise_alert(w)  # T-001 gas alarm
    raise_alert(w, OTHER_DEVICE, "w20117", 0.5, samples=3)  # U-001
    with psycopg.connect(database_url, autocommit=True) as conn:
        for alert_id in (1, 2):
            generate_report(conn, alert_id, locale="zh-CN", now=datetime.now(UTC))
        conn.execute("INSERT INTO users (username, display_name, password_hash, role) VALUES ('spare', 's', 'x', 'viewer')")
    return w


def _window(database_url: str) -> int:
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO maintenance_windows (site_id, starts_at, ends_at, reason, created_by)"
            " SELECT id, %s, %s, 'matrix', 'test' FROM sites WHERE code = 'T-001' RETURNING id",
            (now, now + timedelta(hours=1))).fetchone()
    assert row is not None
    return int(row[0])


def _path(template: str, world: World, place: str) -> str:
    """The path with ids of plant T-001 (place 't') or U-001 (place 'u')."""
    alert_id = 1 if place == "t" else 2
    site = "T-001" if place == "t" else "U-001"
    device = world.devices[WATER if place == "t" else OTHER_DEVICE]
    path = _admin_keys(template, world).replace("{alert_id}", str(alert_id)).replace("{code}", site)
    with psycopg.connect(world.database_url) as conn:
        spare = conn.execute("SELECT id FROM users WHERE username = 'spare'").fetchone()
    assert spare is not None
    path = path.replace("{user_id}", str(spare[0]))
    if "{window_id}" in path:
        path = path.replace("{window_id}", str(_window(world.database_url)))
    if path.endswith("/series"):
        path += f"?device_id={device}&pollutant=w20117&range=24h"
    path = path.replace("{entity}", "recipients").replace("{key}", "insp-a")
    if path.endswith("/exports/download"):
        path += f"?kind=alerts&site={site}&start=2020-01-01&end=2030-12-31"
    return path


def _admin_keys(template: str, world: World) -> str:
    """Keys of the administration edit routes: a device, recipient, chain, or a limit in force now (an edit or end
    of a limit leaves it ended, so each call takes the newest)."""
    if template.startswith("/admin/recipients/{code}") or template.startswith("/admin/chains/{code}"):
        template = template.replace("{code}", "insp-a" if "recipients" in template else "pollution")
    if "{limit_id}" in template:
        with psycopg.connect(world.database_url) as conn:
            row = conn.execute("SELECT max(id) FROM limits WHERE valid_to IS NULL").fetchone()
        assert row is not None
        template = template.replace("{limit_id}", str(row[0]))
    return template.replace("{mn}", WATER).replace("{kind}/{key}", "chains/pollution")


def _in_scope(role: str, place: str) -> bool:
    if role == "admin":
        return True
    if role == "outsider":
        return place == "u"
    return place == "t"  # viewer and operator: district t; inspector: plant T-001


def _allowed(role: str | None, spec: Spec, place: str) -> bool:
    if role is None:
        return False
    if spec.need == "admin":
        return role == "admin"
    if spec.need == "act" and role not in ACT:
        return False
    return not spec.scoped or _in_scope(role, place)


def _succeeded(status: int, location: str) -> bool:
    """2xx, or a redirect that is not to the login and not an error."""
    if 200 <= status < 300:
        return True
    return status in (302, 303) and not location.startswith("/login") and "error=" not in location


def _call(c: TestClient, csrf: str, method: str, path: str, spec: Spec) -> tuple[int, str]:
    headers = {"X-CSRF-Token": csrf} if spec.json else {}
    body = spec.body(next(COUNTER)) if spec.body else {}
    if method == "GET":
        r = c.get(path, follow_redirects=False)
    elif spec.json:
        r = c.post(path, json=body, headers=headers, follow_redirects=False)
    else:
        r = c.post(path, data={**body, "csrf_token": csrf}, follow_redirects=False)
    return r.status_code, r.headers.get("location", "")


def test_every_route_is_in_the_matrix() -> None:
    assert route_table() == set(ROUTES) | NOT_IN_MATRIX


def test_access_matrix_every_route_every_role_both_scopes(world: World) -> None:
    unexpected: list[str] = []
    for role in ROLES:
        with client(world) as c:
            csrf = login(c, role) if role else "no-session"
            for (method, template), spec in ROUTES.items():
                for place in ("t", "u") if spec.scoped else ("t",):
                    path = _path(template, world, place)
                    status, location = _call(c, csrf, method, path, spec)
                    allowed = _allowed(role, spec, place)
                    ok = _succeeded(status, location)
                    conflict = status == 409 or "error=" in location  # refused by the state: the page says why
                    if ok != allowed and not (allowed and conflict):
                        unexpected.append(f"{role} {method} {path}: {status} {location} (allowed={allowed})")
    assert not unexpected, "\n".join(unexpected)


def test_refusals_say_why_without_revealing_other_plants(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "viewer")
        assert c.get("/api/alerts/2").status_code == 404  # exists, but in another district
        assert c.get("/api/alerts/999").status_code == 404
        assert c.post("/api/alerts/1/note", json={"note": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 403
        assert c.get("/admin").status_code == 403
    with client(world) as c:
        assert c.get("/api/overview").status_code == 401
        # Signing in returns to the page asked for; never to another site.
        assert c.get("/alerts", follow_redirects=False).headers["location"] == "/login?next=%2Falerts"
        assert c.get("/", follow_redirects=False).headers["location"] == "/login"
