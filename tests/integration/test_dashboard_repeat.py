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


def test_a_second_acknowledge_says_who_acknowledged_and_when(world: World) -> None:
    alert_id = raise_alert(world)
    with client(world) as c:
        csrf = login(c, "operator")
        form = {"csrf_token": csrf, "disposition": "false_alarm", "note": "checked"}
        status, location = _twice(c, f"/alerts/{alert_id}/acknowledge", form)
        [(by, at)] = _rows(world, "SELECT acknowledged_by, acknowledged_at FROM alerts WHERE id = %s", alert_id)
        assert status == 303 and by == "operator" and location == f"/alerts/{alert_id}?error=acknowledge"
        _in_both(c, csrf, location, f"Already acknowledged by operator at {_local(at)}",
                 f"已由 operator 于 {_local(at)} 确认")
    assert _rows(world, "SELECT count(*) FROM alert_events WHERE alert_id = %s AND to_state = 'acknowledged'",
                 alert_id) == [(1,)]


def test_a_second_resolve_says_who_resolved_and_when(world: World) -> None:
    alert_id = raise_alert(world)  # latched: resolved by hand once acknowledged
    with client(world) as c:
        csrf = login(c, "inspector")
        ack = {"csrf_token": csrf, "disposition": "false_alarm", "note": ""}
        assert c.post(f"/alerts/{alert_id}/acknowledge", data=ack, follow_redirects=False).status_code == 303
        status, location = _twice(c, f"/alerts/{alert_id}/resolve", {"csrf_token": csrf, "reason": "resolved_by_hand"})
        [(by, at)] = _rows(world, "SELECT actor, time FROM alert_events WHERE alert_id = %s AND to_state = 'resolved'",
                           alert_id)
        assert by == "inspector" and location == f"/alerts/{alert_id}?error=resolve"
        _in_both(c, csrf, location, f"Already resolved by inspector at {_local(at)}",
                 f"已由 inspector 于 {_local(at)} 解除")


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


@pytest.mark.parametrize(("path", "form", "english", "chinese"), [
    pytest.param(f"/admin/devices/{GAS}/active", {"active": "0"}, f"{GAS} was already deactivated by admin at",
                 f"{GAS} 已由 admin 于", id="deactivate-device"),
    pytest.param("/admin/recipients/safety-b/active", {"active": "0"}, "safety-b was already deactivated by admin",
                 "safety-b 已由 admin 于", id="deactivate-recipient"),
    pytest.param("/admin/sites/T-002/active", {"active": "0"}, "T-002 was already deactivated by admin",
                 "T-002 已由 admin 于", id="deactivate-plant"),
    pytest.param("/admin/users/{viewer}/disable", {}, "User viewer was already disabled by admin at",
                 "用户 viewer 已由 admin 于", id="disable-user"),
])
def test_a_second_admin_change_says_who_made_it(world: World, path: str, form: dict[str, str], english: str,
                                                chinese: str) -> None:
    [(viewer,)] = _rows(world, "SELECT id FROM users WHERE username = 'viewer'")
    with client(world) as c:
        csrf = login(c, "admin")
        audit_before = _rows(world, "SELECT count(*) FROM audit_log")[0][0]
        status, page = _twice(c, path.format(viewer=viewer), {**form, "csrf_token": csrf})
        assert status == 409 and english in page
        assert _rows(world, "SELECT count(*) FROM audit_log")[0][0] == audit_before + 1  # the second wrote nothing
        c.post("/locale", data={"locale": "zh-CN", "csrf_token": csrf, "back": "/admin"})
        again = c.post(path.format(viewer=viewer), data={**form, "csrf_token": csrf}, follow_redirects=False)
        assert again.status_code == 409 and chinese in again.text


def test_a_second_end_of_a_maintenance_window_says_who_ended_it(world: World) -> None:
    start = datetime.now(ZONE) - timedelta(minutes=5)
    with client(world) as c:
        csrf = login(c, "admin")
        r = c.post("/admin/maintenance", data={
            "csrf_token": csrf, "site": "T-001", "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"), "reason": "calibration"},
            follow_redirects=False)
        assert r.status_code == 303, r.text
        [(window_id,)] = _rows(world, "SELECT max(id) FROM maintenance_windows")
        status, page = _twice(c, f"/admin/maintenance/{window_id}/end", {"csrf_token": csrf})
        assert status == 409 and f"Maintenance window {window_id} was already ended by admin at" in page
