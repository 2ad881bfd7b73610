"""A double click or a stale page repeats an action: the second answer says what already happened, by whom and
when, in the reader's language (not "You may not do this"), and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from alerts.answer_flow import tick_answers
from alerts.people import PlantAnswer, answer_policy, submit_answer
from tests.alert_helpers import GAS, WATER
from tests.browser.world import World, build_world, client, login, raise_alert

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def world(database_url: str) -> World:
    return build_world(database_url, locale="en")


def _rows(world: World, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(world.database_url) as conn:
        return conn.execute(sql, params).fetchall()


def _local(value: datetime) -> str:
    return value.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def _twice(c: TestClient, path: str, form: dict[str, str]) -> tuple[int, str]:
    """Post the same form twice (a double click); the second answer's status and the page it leads to."""
    first = c.post(path, data=form, follow_redirects=False)
    assert first.status_code == 303, first.text
    second = c.post(path, data=form, follow_redirects=False)
    if second.status_code == 303:
        return 303, second.headers["location"]
    return second.status_code, second.text


def _in_both(c: TestClient, csrf: str, location: str, english: str, chinese: str) -> None:
    """The page behind `location` says `english`; after switching the session to Chinese, `chinese`."""
    assert english in c.get(location).text
    c.post("/locale", data={"locale": "zh-CN", "csrf_token": csrf, "back": location})
    page = c.get(location).text
    assert chinese in page and "You may not do this" not in page and "无权执行此操作" not in page
    c.post("/locale", data={"locale": "en", "csrf_token": csrf, "back": location})


def test_a_second_acknowledge_or_resolve_says_who_did_it_and_when(world: World) -> None:
    acked, resolved = raise_alert(world), raise_alert(world, WATER, "w20117", 0.5, samples=3)
    with client(world) as c:
        csrf = login(c, "operator")
        form = {"csrf_token": csrf, "disposition": "false_alarm", "note": "checked"}
        status, location = _twice(c, f"/alerts/{acked}/acknowledge", form)
        [(by, at)] = _rows(world, "SELECT acknowledged_by, acknowledged_at FROM alerts WHERE id = %s", acked)
        assert status == 303 and by == "operator" and location == f"/alerts/{acked}?error=acknowledge"
        _in_both(c, csrf, location, f"Already acknowledged by operator at {_local(at)}",
                 f"已由 operator 于 {_local(at)} 确认")
        # acknowledged first (a latched alert is resolved by hand only then)
        assert c.post(f"/alerts/{resolved}/acknowledge", data=form, follow_redirects=False).status_code == 303
        status, location = _twice(c, f"/alerts/{resolved}/resolve", {"csrf_token": csrf, "reason": "resolved_by_hand"})
        [(by, at)] = _rows(world, "SELECT actor, time FROM alert_events WHERE alert_id = %s AND to_state = 'resolved'",
                           resolved)
        assert by == "operator" and location == f"/alerts/{resolved}?error=resolve"
        _in_both(c, csrf, location, f"Already resolved by operator at {_local(at)}",
                 f"已由 operator 于 {_local(at)} 解除")
    assert _rows(world, "SELECT count(*) FROM alert_events WHERE alert_id = %s AND to_state = 'acknowledged'",
                 acked) == [(1,)]


def test_a_second_accept_of_the_plants_answer_says_who_accepted_it(world: World) -> None:
    alert_id = raise_alert(world, WATER, "w20117", 0.5, samples=3)
    now = datetime.now(UTC)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET severity = 'exceedance' WHERE id = %s", (alert_id,))
        conn.execute("UPDATE sites SET contacts = '[{\"name\": \"王工\", \"role\": \"环保\", \"phone\": \"+8613900000077\"}]'"
                     " WHERE code = 'T-001'")
        assert tick_answers(conn, answer_policy(world.settings), now)[0] == 1
        [(request_id,)] = conn.execute("SELECT id FROM answer_requests WHERE alert_id = %s", (alert_id,)).fetchall()
        submit_answer(conn, alert_id=alert_id, request_id=request_id, now=now, client=None,
                      answer=PlantAnswer("调节池液位过高", "已停产镀铬线", now + timedelta(hours=4)))
    with client(world) as c:
        csrf = login(c, "inspector")
        status, location = _twice(c, f"/alerts/{alert_id}/answer/accept", {"csrf_token": csrf, "note": "采纳"})
        [(at,)] = _rows(world, "SELECT decided_at FROM answer_requests WHERE alert_id = %s", alert_id)
        _in_both(c, csrf, location, f"already accepted by inspector at {_local(at)}",
                 f"企业的说明已由 inspector 于 {_local(at)} 采纳")


def test_a_second_approval_of_a_mark_says_who_approved_it(world: World) -> None:
    alert_id = raise_alert(world, WATER, "w20117", 5.0, samples=3)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET severity = 'exceedance' WHERE id = %s", (alert_id,))
    now = datetime.now(UTC)
    body = {"device_mn": WATER, "pollutant": "w20117", "start_at": (now - timedelta(hours=1)).isoformat(),
            "end_at": (now + timedelta(hours=1)).isoformat(), "reason": "invalid", "evidence": "drift"}
    with client(world) as c:
        mark = c.post("/api/review/marks", json=body, headers={"X-CSRF-Token": login(c, "operator")}).json()
        assert mark["state"] == "pending"
        c.cookies.clear()
        csrf = login(c, "inspector")
        status, location = _twice(c, f"/review/{mark['id']}/approve", {"csrf_token": csrf, "note": "checked"})
        assert location == f"/review?error=review_not_pending&mark={mark['id']}"
        [(at,)] = _rows(world, "SELECT decided_at FROM data_marks WHERE id = %s", mark["id"])
        _in_both(c, csrf, location, f"Mark #{mark['id']} is already in force: approved by inspector at {_local(at)}",
                 f"标记 #{mark['id']} 已生效:由 inspector 于 {_local(at)} 批准")


ADMIN_CHANGES = [  # path, form, what the second one says in English, and in Chinese
    (f"/admin/devices/{GAS}/active", {"active": "0"}, f"{GAS} was already deactivated by admin at",
     f"{GAS} 已由 admin 于"),
    ("/admin/recipients/safety-b/active", {"active": "0"}, "safety-b was already deactivated by admin",
     "safety-b 已由 admin 于"),
    ("/admin/sites/T-002/active", {"active": "0"}, "T-002 was already deactivated by admin", "T-002 已由 admin 于"),
    ("/admin/users/{viewer}/disable", {}, "User viewer was already disabled by admin at", "用户 viewer 已由 admin 于"),
]


def test_a_second_admin_change_says_who_made_it_and_writes_nothing(world: World) -> None:
    [(viewer,)] = _rows(world, "SELECT id FROM users WHERE username = 'viewer'")
    with client(world) as c:
        csrf = login(c, "admin")
        for template, form, english, chinese in ADMIN_CHANGES:
            path = template.format(viewer=viewer)
            audit_before = _rows(world, "SELECT count(*) FROM audit_log")[0][0]
            status, page = _twice(c, path, {**form, "csrf_token": csrf})
            assert status == 409 and english in page, path
            assert _rows(world, "SELECT count(*) FROM audit_log")[0][0] == audit_before + 1, path  # one entry
            c.post("/locale", data={"locale": "zh-CN", "csrf_token": csrf, "back": "/admin"})
            again = c.post(path, data={**form, "csrf_token": csrf}, follow_redirects=False)
            assert again.status_code == 409 and chinese in again.text, path
            c.post("/locale", data={"locale": "en", "csrf_token": csrf, "back": "/admin"})
        _maintenance_window_ended_twice(world, c, csrf)


def _maintenance_window_ended_twice(world: World, c: TestClient, csrf: str) -> None:
    """Ending a maintenance window twice, in the admin's session."""
    start = datetime.now(ZONE) - timedelta(minutes=5)
    r = c.post("/admin/maintenance", data={
        "csrf_token": csrf, "site": "T-001", "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"), "reason": "calibration"},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    [(window_id,)] = _rows(world, "SELECT max(id) FROM maintenance_windows")
    status, page = _twice(c, f"/admin/maintenance/{window_id}/end", {"csrf_token": csrf})
    assert status == 409 and f"Maintenance window {window_id} was already ended by admin at" in page
