"""What a repeated or stale action is told, from the thing as it is now (dashboard/repeat.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard.repeat import Notice, alert_notice, mark_notice

T1 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
T2 = datetime(2026, 12, 5, 3, 30, tzinfo=UTC)


def _alert(state: str, *, disposition: str | None = None, latched: bool = False) -> dict[str, Any]:
    return {"state": state, "disposition": disposition, "acknowledged_by": "li" if disposition else None,
            "acknowledged_at": T1 if disposition else None, "latched": latched}


RESOLVED = [{"to_state": "acknowledged", "actor": "li", "time": T1}, {"to_state": "resolved", "actor": "wang", "time": T2}]
CLOSED = [*RESOLVED, {"to_state": "closed", "actor": "engine", "time": T2}]


@pytest.mark.parametrize(("action", "alert", "events", "expected"), [
    pytest.param("acknowledge", _alert("acknowledged", disposition="confirmed"), [],
                 Notice("repeat.already_acknowledged", "li", T1), id="ack-twice"),
    pytest.param("acknowledge", _alert("resolved", disposition="confirmed"), RESOLVED,
                 Notice("repeat.already_acknowledged", "li", T1), id="ack-after-ack-and-resolve"),
    pytest.param("acknowledge", _alert("resolved"), RESOLVED, Notice("repeat.already_resolved", "wang", T2),
                 id="ack-after-resolve"),
    pytest.param("resolve", _alert("resolved", disposition="confirmed"), RESOLVED,
                 Notice("repeat.already_resolved", "wang", T2), id="resolve-twice"),
    pytest.param("resolve", _alert("closed", disposition="confirmed"), CLOSED,
                 Notice("repeat.already_closed", "engine", T2), id="resolve-after-close"),
    pytest.param("resolve", _alert("open", latched=True), [], Notice("repeat.needs_acknowledgement"),
                 id="resolve-latched-unacknowledged"),
    pytest.param("note", _alert("open"), [], Notice("repeat.alert_state", state="open"), id="other-refusal"),
])
def test_alert_notice(action: str, alert: dict[str, Any], events: list[dict[str, Any]], expected: Notice) -> None:
    assert alert_notice(action, alert, events, []) == expected


def _round(state: str, decided_by: str | None, decided_at: datetime | None) -> dict[str, Any]:
    return {"state": state, "decided_by": decided_by, "decided_at": decided_at}


@pytest.mark.parametrize(("action", "answers", "expected"), [
    pytest.param("answer_accept", [_round("accepted", "zhao", T2)], Notice("repeat.answer_accepted", "zhao", T2),
                 id="accept-twice"),
    pytest.param("answer_ask_again", [_round("asked_again", "zhao", T1), _round("waiting", None, None)],
                 Notice("repeat.answer_asked_again", "zhao", T1), id="ask-again-twice"),
    pytest.param("answer_accept", [_round("asked_again", "zhao", T1), _round("accepted", "qian", T2)],
                 Notice("repeat.answer_accepted", "qian", T2), id="newest-decision-counts"),
    pytest.param("answer_accept", [_round("waiting", None, None)], Notice("page.answer_refused_no_decision"),
                 id="nothing-decided-yet"),
])
def test_answer_notice(action: str, answers: list[dict[str, Any]], expected: Notice) -> None:
    assert alert_notice(action, _alert("acknowledged", disposition="confirmed"), [], answers) == expected


def _mark(state: str, decided_by: str | None) -> dict[str, Any]:
    return {"id": 7, "state": state, "decided_by": decided_by, "decided_at": T2 if decided_by else None,
            "proposed_by": "li", "proposed_at": T1}


@pytest.mark.parametrize(("mark", "expected"), [
    pytest.param(_mark("active", "zhao"), Notice("repeat.mark_active", "zhao", T2, id=7), id="approved"),
    pytest.param(_mark("rejected", "zhao"), Notice("repeat.mark_rejected", "zhao", T2, id=7), id="rejected"),
    pytest.param(_mark("withdrawn", "li"), Notice("repeat.mark_withdrawn", "li", T2, id=7), id="withdrawn"),
    pytest.param(_mark("active", None), Notice("repeat.mark_active", "li", T1, id=7), id="active-from-proposal"),
])
def test_mark_notice(mark: dict[str, Any], expected: Notice) -> None:
    assert mark_notice(mark) == expected


@pytest.mark.parametrize(("locale", "expected"), [
    pytest.param("en", "Already acknowledged by li at 2026-12-05 10:00:00; nothing was changed.", id="en"),
    pytest.param("zh-CN", "已由 li 于 2026-12-05 10:00:00 确认,本次未作更改。", id="zh"),
])
def test_notice_words_in_each_language(locale: str, expected: str) -> None:
    from zoneinfo import ZoneInfo

    from dashboard.display import local_time

    words = Notice("repeat.already_acknowledged", "li", T1).words(locale, lambda v: local_time(v, ZoneInfo("Asia/Shanghai")))
    assert words == expected
