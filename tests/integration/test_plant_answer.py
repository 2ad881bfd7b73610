"""The plant's answer end to end on real PostgreSQL: asked by SMS with a signed link when an exceedance
opens, the phone form without an account, reminders and escalation, the inspector's decision, the timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from alerts.answer_flow import answer_policy, tick_answers
from alerts.answers import sign_answer_link
from tests.alert_helpers import WATER
from tests.browser.world import OTHER_DEVICE, SECRET, World, build_world, client, login, raise_alert
from tests.unit.test_documents import PDF

CONTACT = "+8613800000009"


@pytest.fixture
def world(database_url: str) -> World:
    w = build_world(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE sites SET contacts = %s WHERE code IN ('T-001', 'U-001')",
                     (Jsonb([{"name": "王工", "role": "环保负责人", "phone": CONTACT}]),))
    return w


def _exceedance(world: World, mn: str = WATER) -> int:
    """An alert through the alert path, made an exceedance: an instantaneous value over Table 3's daily limit is
    only a pre-warning, and the daily mean needs a day of data; the answer flow reads the stored alert only."""
    alert_id = raise_alert(world, mn, "w20117", 0.5, samples=3)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET severity = 'exceedance' WHERE id = %s", (alert_id,))
    return alert_id


def _tick(world: World, now: datetime) -> tuple[int, int, int]:
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        return tick_answers(conn, answer_policy(world.settings), now)


def _link_path(world: World, alert_id: int) -> str:
    with psycopg.connect(world.database_url) as conn:
        row = conn.execute("SELECT body FROM notifications WHERE alert_id = %s AND reason = 'answer_request'"
                           " ORDER BY id DESC LIMIT 1", (alert_id,)).fetchone()
    assert row is not None
    found = re.search(r"(/a/[A-Za-z0-9_.-]+)", row[0])
    assert found is not None
    return found.group(1)


def _events(world: World, alert_id: int) -> list[str]:
    with psycopg.connect(world.database_url) as conn:
        rows = conn.execute("SELECT reason FROM alert_events WHERE alert_id = %s AND reason LIKE 'answer_%%'"
                            " ORDER BY id", (alert_id,)).fetchall()
    return [r[0] for r in rows]


ANSWER = {"cause": "含铬废水调节池液位过高,还原反应时间不足", "measures": "已停产镀铬线,增加亚硫酸氢钠投加",
          "expected_recovery_at": "2030-01-01T18:00"}


def test_plant_answers_through_the_link_and_the_inspector_asks_again_then_accepts(world: World) -> None:
    alert_id = _exceedance(world)
    now = datetime.now(UTC)
    assert _tick(world, now) == (1, 0, 0)
    assert _tick(world, now) == (0, 0, 0)  # asked once
    with psycopg.connect(world.database_url) as conn:
        sms = conn.execute("SELECT phone, status, alert_ids FROM notifications WHERE reason = 'answer_request'"
                           ).fetchall()
    assert sms == [(CONTACT, "pending", [])]  # the plant's SMS never counts as an inspector told
    path = _link_path(world, alert_id)
    with client(world) as c:  # no account
        form = c.get(path)
        assert form.status_code == 200 and 'id="answer-form"' in form.text
        r = c.post(path, data=ANSWER, headers={"Origin": "https://testserver"})
        assert r.status_code == 200 and 'id="answer-done"' in r.text
        again = c.post(path, data=ANSWER, headers={"Origin": "https://testserver"})
        assert 'id="answer-form"' not in again.text  # one answer per round
    with client(world) as c:
        csrf = login(c, "inspector")
        page = c.get(f"/alerts/{alert_id}")
        assert ANSWER["cause"] in page.text and 'id="answer-accept"' in page.text
        r = c.post(f"/alerts/{alert_id}/answer/ask-again", data={"csrf_token": csrf, "note": "请补充监测数据"},
                   follow_redirects=False)
        assert r.status_code == 303
        second = _link_path(world, alert_id)
        assert second != path
        assert c.get(path).status_code == 200 and 'id="answer-form"' not in c.get(path).text  # round 1 is closed
        assert c.post(second, data=ANSWER, headers={"Origin": "https://testserver"}).status_code == 200
        r = c.post(f"/alerts/{alert_id}/answer/accept", data={"csrf_token": csrf, "note": "采纳"},
                   follow_redirects=False)
        assert r.status_code == 303
    assert _events(world, alert_id) == ["answer_requested", "answer_submitted", "answer_asked_again",
                                        "answer_requested", "answer_submitted", "answer_accepted"]


def test_reminders_then_escalation_to_the_inspectors_once(world: World) -> None:
    alert_id = _exceedance(world)
    now = datetime.now(UTC)
    _tick(world, now)
    assert _tick(world, now + timedelta(hours=6)) == (0, 1, 0)
    assert _tick(world, now + timedelta(hours=7)) == (0, 0, 0)
    assert _tick(world, now + timedelta(hours=24)) == (0, 0, 1)
    assert _tick(world, now + timedelta(hours=30)) == (0, 0, 0)
    with psycopg.connect(world.database_url) as conn:
        told = conn.execute("SELECT count(*), bool_and(recipient_id IS NOT NULL) FROM notifications"
                            " WHERE reason = 'answer_overdue'").fetchone()
        inspectors = conn.execute("SELECT count(DISTINCT recipient_id) FROM notifications WHERE %s = ANY(alert_ids)"
                                  " AND recipient_id IS NOT NULL", (alert_id,)).fetchone()
    assert told is not None and inspectors is not None and told == (inspectors[0], True) and told[0] >= 1
    assert _events(world, alert_id) == ["answer_requested", "answer_reminded", "answer_overdue"]


def test_expired_tampered_and_other_alert_links_are_refused(world: World) -> None:
    alert_id = _exceedance(world)
    _tick(world, datetime.now(UTC))
    path = _link_path(world, alert_id)
    with psycopg.connect(world.database_url) as conn:
        request_id = conn.execute("SELECT id FROM answer_requests WHERE alert_id = %s", (alert_id,)).fetchone()
    assert request_id is not None
    expired = sign_answer_link(SECRET, alert_id, request_id[0], datetime.now(UTC) - timedelta(seconds=1))
    # A validly signed token naming this request under another alert id opens nothing.
    crossed = sign_answer_link(SECRET, alert_id + 1000, request_id[0], datetime.now(UTC) + timedelta(days=1))
    with client(world) as c:
        assert c.get(f"/a/{expired}").status_code == 410
        assert c.post(f"/a/{expired}", data=ANSWER).status_code == 410
        assert c.get(path[:-3] + "AAA").status_code == 404
        assert c.get(f"/a/{crossed}").status_code == 404
        # Cross-site form posts are refused even with a valid link.
        assert c.post(path, data=ANSWER, headers={"Origin": "https://evil.example"}).status_code == 404
    with psycopg.connect(world.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM plant_answers").fetchone() == (0,)


def test_the_form_shows_only_its_own_alert(world: World) -> None:
    mine = _exceedance(world)
    other = _exceedance(world, OTHER_DEVICE)
    _tick(world, datetime.now(UTC))
    with psycopg.connect(world.database_url) as conn:
        codes: dict[int, str] = dict(conn.execute("SELECT id, code FROM alerts WHERE id IN (%s, %s)", (mine, other)).fetchall())
    with client(world) as c:
        page = c.get(_link_path(world, mine))
    assert codes[mine] in page.text and codes[other] not in page.text
    assert "邻区电镀厂" not in page.text and "/alerts" not in page.text


def test_an_inspector_of_another_plant_cannot_decide(world: World) -> None:
    alert_id = _exceedance(world)
    _tick(world, datetime.now(UTC))
    with client(world) as c:
        assert c.post(_link_path(world, alert_id), data=ANSWER, headers={"Origin": "https://testserver"}
                      ).status_code == 200
    with client(world) as c:
        csrf = login(c, "outsider")
        r = c.post(f"/alerts/{alert_id}/answer/accept", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 404
    with client(world) as c:
        csrf = login(c, "viewer")
        r = c.post(f"/alerts/{alert_id}/answer/accept", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 403
    assert _events(world, alert_id) == ["answer_requested", "answer_submitted"]


def test_plant_attaches_files_to_its_answer_and_the_inspector_downloads_them(world: World) -> None:
    alert_id = _exceedance(world)
    _tick(world, datetime.now(UTC))
    path = _link_path(world, alert_id)
    origin = {"Origin": "https://testserver", "Content-Type": "application/octet-stream"}
    with client(world) as c:
        early = {lang: c.post(f"{path}/attachments", params={"filename": "a.pdf", "lang": lang}, content=PDF,
                              headers=origin) for lang in ("zh-CN", "en")}
        assert {r.status_code for r in early.values()} == {422}  # nothing to attach to before the answer
        assert "只能为已提交" in early["zh-CN"].json()["detail"]  # said in the form's language, not the exception's
        assert "only to a submitted explanation" in early["en"].json()["detail"]
        c.post(path, data=ANSWER, headers={"Origin": "https://testserver"})
        assert c.post(f"{path}/attachments", params={"filename": "整改照片.pdf"}, content=PDF,
                      headers=origin).status_code == 201
        refused = {lang: c.post(f"{path}/attachments", params={"filename": "x.pdf", "lang": lang}, content=b"<html>",
                                headers=origin) for lang in ("zh-CN", "en")}
        assert {r.status_code for r in refused.values()} == {422}  # says why in the form's language (issue 18)
        assert "只接受 PDF、PNG 和 JPEG" in refused["zh-CN"].json()["detail"]
        assert "Only PDF, PNG and JPEG" in refused["en"].json()["detail"]
        assert c.post(f"{path}/attachments", params={"filename": "y.pdf"}, content=PDF,
                      headers={**origin, "Origin": "https://evil.example"}).status_code == 404
    with psycopg.connect(world.database_url) as conn:
        file_id = conn.execute("SELECT id FROM answer_attachments").fetchone()
    assert file_id is not None
    with client(world) as c:
        login(c, "inspector")
        assert "整改照片.pdf" in c.get(f"/alerts/{alert_id}").text
        r = c.get(f"/alerts/{alert_id}/answer-files/{file_id[0]}")
        assert r.content == PDF and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-disposition"].startswith("attachment;")
    with client(world) as c:
        login(c, "outsider")
        assert c.get(f"/alerts/{alert_id}/answer-files/{file_id[0]}").status_code == 404
    assert "answer_attachment" in _events(world, alert_id)
