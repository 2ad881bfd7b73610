"""Answer links: signed, expiring, bound to one alert and request; the reminder and escalation schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.answer_flow import request_sms
from alerts.answers import (
    AnswerLink,
    AnswerLinkExpired,
    AnswerLinkInvalid,
    RequestClock,
    Step,
    next_step,
    read_answer_link,
    sign_answer_link,
)
from alerts.reports.links import sign_report_link

SECRET = "answer-test-secret-" + "x" * 40
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=7)
TOKEN = sign_answer_link(SECRET, 41, 7, LATER)


def _flip(token: str, at: int) -> str:
    c = token[at]
    return token[:at] + ("A" if c != "A" else "B") + token[at + 1:]


def test_a_fresh_link_names_its_alert_and_request() -> None:
    assert read_answer_link(SECRET, TOKEN, NOW) == AnswerLink(41, 7, datetime.fromtimestamp(int(LATER.timestamp()), UTC))


@pytest.mark.parametrize(
    ("token", "now", "error"),
    [
        pytest.param(TOKEN, LATER, AnswerLinkExpired, id="expired-at-expiry"),
        pytest.param(TOKEN, LATER + timedelta(days=1), AnswerLinkExpired, id="expired-later"),
        pytest.param(_flip(TOKEN, 3), NOW, AnswerLinkInvalid, id="tampered-payload"),
        pytest.param(_flip(TOKEN, len(TOKEN) - 2), NOW, AnswerLinkInvalid, id="tampered-mac"),
        # Another alert's id under the same MAC: the signature covers the ids.
        pytest.param(sign_answer_link(SECRET, 42, 7, LATER).split(".")[0] + "." + TOKEN.split(".")[1], NOW,
                     AnswerLinkInvalid, id="other-alert-same-mac"),
        pytest.param(sign_answer_link("another-secret-" + "y" * 40, 41, 7, LATER), NOW, AnswerLinkInvalid,
                     id="other-key"),
        pytest.param(sign_report_link(SECRET, 41, LATER), NOW, AnswerLinkInvalid, id="report-link-is-no-answer-link"),
        pytest.param(TOKEN[:20], NOW, AnswerLinkInvalid, id="truncated"),
        pytest.param("%%%.###", NOW, AnswerLinkInvalid, id="garbage"),
        pytest.param("a." + "b" * 300, NOW, AnswerLinkInvalid, id="oversized"),
    ],
)
def test_refused_links(token: str, now: datetime, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_answer_link(SECRET, token, now)


def test_an_expired_and_tampered_link_says_invalid_not_expired() -> None:
    # Signature first: an attacker learns nothing about expiry from an altered token.
    with pytest.raises(AnswerLinkInvalid):
        read_answer_link(SECRET, _flip(TOKEN, 3), LATER + timedelta(days=1))


H = timedelta(hours=1)
CLOCK = RequestClock(requested_at=NOW, deadline_at=NOW + 24 * H, last_reminded_at=None, escalated_at=None)


@pytest.mark.parametrize(
    ("clock", "now", "step"),
    [
        pytest.param(CLOCK, NOW + H, None, id="quiet-at-first"),
        pytest.param(CLOCK, NOW + 6 * H, "remind", id="first-reminder-after-interval"),
        pytest.param(RequestClock(NOW, NOW + 24 * H, NOW + 6 * H, None), NOW + 11 * H, None, id="not-again-too-soon"),
        pytest.param(RequestClock(NOW, NOW + 24 * H, NOW + 6 * H, None), NOW + 12 * H, "remind", id="second-reminder"),
        pytest.param(CLOCK, NOW + 24 * H, "escalate", id="escalate-at-deadline"),
        pytest.param(RequestClock(NOW, NOW + 24 * H, NOW + 18 * H, NOW + 24 * H), NOW + 30 * H, None,
                     id="escalate-once"),
    ],
)
def test_schedule(clock: RequestClock, now: datetime, step: Step) -> None:
    assert next_step(clock, now, reminder_seconds=6 * 3600) == step


@pytest.mark.parametrize(("reminder", "expected"), [
    pytest.param(False, "【超标说明】鑫达电镀 1#总排口 超标告警CE5Y5Q,请于11-23 14:00前说明原因、措施和预计恢复时间:"
                        "https://e.example/a/t", id="request"),
    pytest.param(True, "【超标说明提醒】鑫达电镀 1#总排口 超标告警CE5Y5Q,请于11-23 14:00前说明原因、措施和预计恢复时间:"
                       "https://e.example/a/t", id="reminder"),
])
def test_the_plants_request_sms_reads_as_before_from_the_catalogue(reminder: bool, expected: str) -> None:
    deadline = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
    sms = request_sms("鑫达电镀", "1#总排口", "CE5Y5Q", deadline, "https://e.example/a/t", "Asia/Shanghai",
                      reminder=reminder)
    assert sms == expected
