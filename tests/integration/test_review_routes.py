"""Data review and KPI routes for every role and scope: who may read, propose, approve and withdraw, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.alert_helpers import WATER
from tests.browser.world import USERS, World, build_world, client, login, raise_alert

READ_ROUTES = ("/review", "/kpi", "/kpi.csv", "/api/kpi", "/api/review/marks", "/kpi?month=2026-11")
PROPOSE_STATUS = {"viewer": 403, "operator": 200, "inspector": 200, "admin": 200, "outsider": 404}


@pytest.fixture
def world(database_url: str) -> World:
    w = build_world(database_url)
    alert_id = raise_alert(w, WATER, "w20117", 5.0, samples=3)
    # The alert opens as a warning and becomes an exceedance once held; the test does not wait for the hold.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET severity = 'exceedance' WHERE id = %s", (alert_id,))
    return w


@pytest.fixture
def app(world: World) -> Iterator[TestClient]:
    with client(world) as c:
        yield c


def _mark_body(evidence: str = "drift found on site") -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"device_mn": WATER, "pollutant": "w20117", "start_at": (now - timedelta(hours=1)).isoformat(),
            "end_at": (now + timedelta(hours=1)).isoformat(), "reason": "invalid", "evidence": evidence}


def _as(c: TestClient, username: str) -> dict[str, str]:
    c.cookies.clear()
    return {"X-CSRF-Token": login(c, username)}


def test_every_role_reads_the_pages_and_nobody_without_a_session(app: TestClient) -> None:
    for route in READ_ROUTES:
        r = app.get(route, follow_redirects=False)
        assert r.status_code == (401 if route.startswith("/api/") else 303), route
    for username in USERS:
        _as(app, username)
        for route in READ_ROUTES:
            assert app.get(route).status_code == 200, (username, route)
    assert app.get("/kpi?month=2026-13").status_code == 400
    csv = app.get("/kpi.csv")
    assert csv.headers["content-type"].startswith("text/csv") and "attachment" in csv.headers["content-disposition"]


@pytest.mark.parametrize("username", list(USERS))
def test_who_may_propose_a_mark_on_the_plant(app: TestClient, username: str) -> None:
    headers = _as(app, username)
    r = app.post("/api/review/marks", json=_mark_body(), headers=headers)
    assert r.status_code == PROPOSE_STATUS[username], r.text
    if r.status_code == 200:
        assert r.json()["state"] == "pending"  # the mark covers the exceedance


def test_four_eyes_over_http(app: TestClient) -> None:
    mark = app.post("/api/review/marks", json=_mark_body(), headers=_as(app, "inspector")).json()
    assert mark["state"] == "pending"
    approve = f"/api/review/marks/{mark['id']}/approve"
    note = {"note": "checked"}
    # Operators may mark but not approve (role: 403); another plant's operator may not even see it (scope: 404).
    for username in ("viewer", "operator", "outsider"):
        assert app.post(approve, json=note, headers=_as(app, username)).status_code == 403, username
    withdraw = approve.replace("approve", "withdraw")
    assert app.post(withdraw, json=note, headers=_as(app, "outsider")).status_code == 404
    # An overlapping second proposal is refused: each reading keeps one meaning.
    assert app.post("/api/review/marks", json=_mark_body("again"), headers=_as(app, "operator")).status_code == 409
    assert app.post(approve, json=note, headers=_as(app, "inspector")).status_code == 409  # the proposer's own
    headers = _as(app, "admin")
    assert app.post(approve, json=note, headers=headers).json() == {"id": mark["id"], "state": "active"}
    assert app.post(approve, json=note, headers=headers).status_code == 409  # already decided
    assert app.post(withdraw, json=note).status_code == 403  # no CSRF token
    marks = {m["id"]: m for m in app.get("/api/review/marks").json()}
    assert marks[mark["id"]]["decided_by"] == "admin" and marks[mark["id"]]["state"] == "active"


def test_the_form_routes_propose_and_withdraw(app: TestClient) -> None:
    token = _as(app, "operator")["X-CSRF-Token"]
    local = datetime.now(UTC).astimezone(app.app.state.dashboard.settings.zone)  # type: ignore[attr-defined]
    form = {"csrf_token": token, "device_mn": WATER, "pollutant": "w00000", "reason": "maintenance",
            "start_at": (local - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S"),
            "end_at": (local - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"), "evidence": "pump service"}
    r = app.post("/review", data=form, follow_redirects=False)
    assert r.headers["location"] == "/review?done=active"  # nothing to hide under flow: no second person
    bad = app.post("/review", data={**form, "start_at": "yesterday"}, follow_redirects=False)
    assert bad.headers["location"] == "/review?error=review_bad_period"
    mark_id = app.get("/api/review/marks").json()[0]["id"]
    r = app.post(f"/review/{mark_id}/withdraw", data={"csrf_token": token, "note": "wrong pump"},
                 follow_redirects=False)
    assert r.headers["location"] == "/review?done=withdrawn"
    page = app.get("/review?error=review_own_mark")
    assert "不能批准自己提交的标记" in page.text and "pump service" in page.text
