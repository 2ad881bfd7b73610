"""The real `twilio` client (through TwilioSmsSender) against the local fake Twilio server."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from alerts.lifecycle import AlertRecord, acknowledge, alert_code, escalate, on_transition
from alerts.model import AlertKey, DeviceSpec, Transition
from alerts.notify.callbacks import (
    SIGNATURE_HEADER,
    STATUS_CALLBACK_PATH,
    is_authorised_sender,
    merge_status,
    parse_reply,
    parse_status_callback,
)
from alerts.notify.dedup import SentNotification
from alerts.notify.escalation import NotifyPolicy, PlannedNotification, RoutedAlert, plan_notifications, sent_entries
from alerts.notify.fake_twilio import FakeTwilio
from alerts.notify.render import render_group_sms
from alerts.notify.routing import EscalationChain, EscalationStep, Recipient
from alerts.notify.sms import RetryPolicy, SendError, SendResult, SmsSender, retry_delay_seconds
from alerts.notify.twilio_sms import TwilioSmsSender, is_valid_signature, sms_sender_from_settings
from envmon.settings import Settings
from tests.patience import patience, slowness

FROM = "+15005550006"
TO = "+8613998369006"
CALLBACK = "https://envmon.example.cn/twilio/status"
FAST = RetryPolicy(base_seconds=0.01, max_delay_seconds=0.05)


def sender_for(fake: FakeTwilio, read_timeout_seconds: float = 5.0) -> TwilioSmsSender:
    return TwilioSmsSender(
        account_sid=fake.account_sid, auth_token=fake.auth_token, api_base_url=fake.base_url,
        read_timeout_seconds=read_timeout_seconds, from_number=FROM,
    )


def send_with_retries(sender: SmsSender, body: str, policy: RetryPolicy = FAST) -> tuple[SendResult | None, list[SendError]]:
    """The outbox's loop in miniature: retry as retry_delay_seconds says, count tries that may have landed."""
    errors: list[SendError] = []
    landings = 0
    while True:
        try:
            return sender.send(TO, body, status_callback=CALLBACK), errors
        except SendError as exc:
            errors.append(exc)
            landings += exc.maybe_sent
            delay = retry_delay_seconds(exc, len(errors), policy, possible_landings=landings)
            if delay is None:
                return None, errors
            time.sleep(delay)


def test_message_is_created_with_body_sender_and_callback(fake: FakeTwilio) -> None:
    result = sender_for(fake).send(TO, "【超标】总铬 1.5mg/L", status_callback=CALLBACK)
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34
    assert result.status == "queued"
    [message] = fake.messages
    assert (message.to, message.body, message.from_, message.status_callback) == (TO, "【超标】总铬 1.5mg/L", FROM, CALLBACK)
    assert message.sid == result.provider_id


def test_messaging_service_replaces_the_from_number(fake: FakeTwilio) -> None:
    sender = TwilioSmsSender(
        account_sid=fake.account_sid, auth_token=fake.auth_token, api_base_url=fake.base_url,
        messaging_service_sid="MG" + "1" * 32,
    )
    sender.send(TO, "x", status_callback=None)
    [message] = fake.messages
    assert (message.from_, message.messaging_service_sid, message.status_callback) == (None, "MG" + "1" * 32, None)


def test_wrong_credentials_are_a_permanent_error(fake: FakeTwilio) -> None:
    sender = TwilioSmsSender(account_sid=fake.account_sid, auth_token="wrong", api_base_url=fake.base_url, from_number=FROM)
    with pytest.raises(SendError) as caught:
        sender.send(TO, "x", status_callback=None)
    assert (caught.value.recoverable, caught.value.code) == (False, "20003")
    assert fake.messages == []


@pytest.mark.parametrize(
    ("http_status", "code", "failures"),
    [
        pytest.param(500, None, 1, id="500-once"),
        pytest.param(503, None, 3, id="503-three-times"),
        pytest.param(429, 20429, 2, id="429-rate-limited"),
    ],
)
def test_recoverable_errors_are_retried_until_sent_once(fake: FakeTwilio, http_status: int, code: int | None, failures: int) -> None:
    fake.fail_next(failures, http_status=http_status, code=code)
    result, errors = send_with_retries(sender_for(fake), "retry me")
    assert result is not None
    assert [(e.recoverable, e.maybe_sent) for e in errors] == [(True, False)] * failures
    assert len(fake.requests) == failures + 1
    assert [m.body for m in fake.messages] == ["retry me"]


@pytest.mark.parametrize(("code", "name"), [pytest.param(21211, "invalid", id="21211-invalid-number"), pytest.param(21610, "stop", id="21610-opted-out")])
def test_permanent_errors_are_not_retried(fake: FakeTwilio, code: int, name: str) -> None:
    fake.fail_number(TO, code)
    result, errors = send_with_retries(sender_for(fake), "never")
    assert result is None
    assert [(e.recoverable, e.code) for e in errors] == [(False, str(code))]
    assert len(fake.requests) == 1 and fake.messages == []


def test_timeout_after_landing_is_retried_once_so_the_message_goes_at_most_twice(fake: FakeTwilio) -> None:
    fake.hang_next(1, seconds=3.0)
    result, errors = send_with_retries(sender_for(fake, read_timeout_seconds=0.5), "maybe twice")
    assert result is not None
    assert [(e.recoverable, e.maybe_sent, e.code) for e in errors] == [(True, True, "timeout")]
    assert [m.body for m in fake.messages] == ["maybe twice", "maybe twice"]


def test_repeated_timeouts_stop_before_a_third_copy(fake: FakeTwilio) -> None:
    fake.hang_next(3, seconds=3.0)
    result, errors = send_with_retries(sender_for(fake, read_timeout_seconds=0.3), "at most twice")
    assert result is None and len(errors) == 2
    assert len(fake.messages) == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_recoverable_and_not_sent() -> None:
    sender = TwilioSmsSender(account_sid="AC" + "0" * 32, auth_token="t", from_number=FROM,
                             api_base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SendError) as caught:
        sender.send(TO, "x", status_callback=None)
    assert (caught.value.recoverable, caught.value.maybe_sent, caught.value.code) == (True, False, "connect")


class CallbackReceiver:
    """A local webhook endpoint that checks signatures as the alerts service will (over the public URL)."""

    def __init__(self, auth_token: str) -> None:
        self.received: list[tuple[dict[str, str], bool]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                ok = is_valid_signature(auth_token, CALLBACK, form, self.headers.get(SIGNATURE_HEADER))
                receiver.received.append((form, ok))
                self.send_response(204 if ok else 403)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{STATUS_CALLBACK_PATH}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_status_callbacks_are_signed_over_the_public_url_and_replayable(fake: FakeTwilio) -> None:
    receiver = CallbackReceiver(fake.auth_token)
    fake.rewrite = lambda url: receiver.local_url if url == CALLBACK else url
    try:
        result = sender_for(fake).send(TO, "cb", status_callback=CALLBACK)
        codes = fake.send_status_callbacks(result.provider_id, ("delivered", "sent", "delivered"))
        bad = fake.send_status_callbacks(result.provider_id, ("failed",), signature_token="not-the-token")
    finally:
        receiver.close()
    assert (codes, bad) == ([204, 204, 204], [403])
    updates = [parse_status_callback(form) for form, ok in receiver.received if ok]
    status = "sending"
    for update in updates:
        assert update is not None and update.provider_id == result.provider_id
        status = merge_status(status, update.status)
    assert status == "delivered"  # out of order and repeated, and the forged 'failed' was refused


def test_auto_callbacks_follow_each_created_message() -> None:
    with FakeTwilio(auto_callbacks=("sent", "delivered"), wait_scale=slowness()) as fake:
        receiver = CallbackReceiver(fake.auth_token)
        fake.rewrite = lambda url: receiver.local_url
        try:
            sender_for(fake).send(TO, "auto", status_callback=CALLBACK)
            deadline = time.monotonic() + patience(5)
            while len(receiver.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            receiver.close()
    assert [(form["MessageStatus"], ok) for form, ok in receiver.received] == [("sent", True), ("delivered", True)]


@pytest.mark.parametrize(
    ("settings", "kind"),
    [
        pytest.param({}, "ConsoleSmsSender", id="no-credentials-console"),
        pytest.param({"twilio_account_sid": "AC" + "1" * 32, "twilio_auth_token": "t", "twilio_from_number": FROM}, "TwilioSmsSender", id="credentials-twilio"),
    ],
)
def test_sender_from_settings(settings: dict[str, str], kind: str, tmp_path: object) -> None:
    sender = sms_sender_from_settings(Settings(state_dir=tmp_path, **settings))  # type: ignore[arg-type]
    assert type(sender).__name__ == kind


# --- the notification path in miniature: planner -> render -> outbox -> Twilio (fake), simulated clock -------


@dataclass
class OutboxRow:
    """What the lead's notifications row holds, enough to drive retries here."""

    planned: PlannedNotification
    body: str
    next_at: datetime
    attempts: int = 0
    landings: int = 0
    status: str = "pending"


PLANT = DeviceSpec(
    7, "MN0001", "FX-EP-001", "上海奉贤鑫达电镀有限公司", "Shanghai Fengxian Xinda Electroplating Co., Ltd.", "fengxian",
    "electroplating", "water_analyser", "1#总排口", "Outfall 1", ("w20116", "w20121"), 60,
)
INSPECTOR_A = Recipient(1, "insp-a", "张伟", "+8613998369006")
INSPECTOR_B = Recipient(2, "insp-b", "Daniel", "+4915112345678", locale="en")
LEAD = Recipient(3, "lead", "黄敏", "+8613900000003")
CHAIN = EscalationChain(1, "heavy-metal", 300, (EscalationStep(0, 0, (INSPECTOR_A, INSPECTOR_B)), EscalationStep(1, 60, (LEAD,))))
START = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


class Incident:
    """Alerts, history and outbox of one simulated incident, stepped one simulated second at a time."""

    def __init__(self, sender: SmsSender) -> None:
        self.sender = sender
        self.alerts: dict[int, AlertRecord] = {}
        self.history: list[SentNotification] = []
        self.outbox: list[OutboxRow] = []

    def open(self, alert_id: int, pollutant: str, value: float, now: datetime) -> None:
        t = Transition("open", AlertKey(7, pollutant, "instant"), "pollution", "exceedance", now, value, 0.5, 1, now, value, now)
        record = on_transition(None, t, now).record
        assert record is not None
        self.alerts[alert_id] = replace(record, id=alert_id, code=alert_code(alert_id))

    def reply(self, from_: str, body: str, now: datetime) -> None:
        command = parse_reply(body)
        assert command is not None
        notified = [r.planned.recipient.phone for r in self.outbox if command.alert_id in r.planned.alert_ids]
        assert is_authorised_sender(from_, notified)
        out = acknowledge(self.alerts[command.alert_id], actor=from_, disposition=command.disposition, note=None, now=now)
        assert out.record is not None
        self.alerts[command.alert_id] = out.record

    def tick(self, now: datetime) -> None:
        routed = [RoutedAlert(a, "FX-EP-001", (CHAIN,)) for a in self.alerts.values()]
        plan = plan_notifications(routed, self.history, now, NotifyPolicy(group_window_seconds=30))
        for alert_id, level in plan.escalations:
            out = escalate(self.alerts[alert_id], level=level, now=now)
            assert out.record is not None
            self.alerts[alert_id] = out.record
        for planned in plan.notifications:
            members = [(self.alerts[i], PLANT) for i in planned.alert_ids]
            body = render_group_sms(members, locale=planned.recipient.locale, zone=ZoneInfo("Asia/Shanghai"), link=None, reason=planned.reason)
            self.outbox.append(OutboxRow(planned, body, now))
            self.history += sent_entries(planned, self.alerts, now)
        for row in self.outbox:
            if row.status == "pending" and row.next_at <= now:
                self.deliver(row, now)

    def deliver(self, row: OutboxRow, now: datetime) -> None:
        row.attempts += 1
        try:
            self.sender.send(row.planned.recipient.phone, row.body, status_callback=CALLBACK)
            row.status = "sent"
            return
        except SendError as exc:
            row.landings += exc.maybe_sent
            delay = retry_delay_seconds(exc, row.attempts, RetryPolicy(base_seconds=1), possible_landings=row.landings)
        if delay is None:
            row.status = "failed"
            self.history = [
                replace(h, status="failed") if h.recipient_id == row.planned.recipient.id and h.alert_id in row.planned.alert_ids else h
                for h in self.history
            ]
        else:
            row.next_at = now + timedelta(seconds=delay)


def run_incident(fake: FakeTwilio, seconds: int, read_timeout_seconds: float = 5.0) -> Incident:
    incident = Incident(sender_for(fake, read_timeout_seconds))
    for second in range(seconds):
        now = START + timedelta(seconds=second)
        if second == 0:
            incident.open(101, "w20116", 1.5, now)
        if second == 5:
            incident.open(102, "w20121", 0.9, now)
        if second == 40:
            incident.reply(INSPECTOR_A.phone, f"1 {alert_code(102)}", now)
        incident.tick(now)
    return incident


def received(fake: FakeTwilio) -> list[tuple[str, str]]:
    return [(m.to, m.body.splitlines()[0]) for m in fake.messages]


def test_incident_sends_exactly_the_expected_sms_in_order(fake: FakeTwilio) -> None:
    run_incident(fake, 320)
    a, b, lead = INSPECTOR_A.phone, INSPECTOR_B.phone, LEAD.phone
    assert received(fake) == [
        (a, "【超标】上海奉贤鑫达电镀有限公司 1#总排口 总铬实时值 1.5mg/L 限值0.5,为限值的3.0倍 11-22 14:00"),
        (b, "EXCEEDANCE Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: Total chromium reading 1.5 mg/L, limit 0.5 (3.0x the limit), 22 Nov 14:00"),
        (a, "【超标】上海奉贤鑫达电镀有限公司 1#总排口 总镍实时值 0.9mg/L 限值0.5,为限值的1.8倍 11-22 14:00"),  # grouped follow-up at +30 s
        (b, "EXCEEDANCE Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: Total nickel reading 0.9 mg/L, limit 0.5 (1.8x the limit), 22 Nov 14:00"),
        (lead, "[升级]【超标】上海奉贤鑫达电镀有限公司 1#总排口 总铬实时值 1.5mg/L 限值0.5,为限值的3.0倍 11-22 14:00"),  # 102 was acknowledged
        (a, "[未确认提醒]【超标】奉贤鑫达电镀 1#总排口 总铬实时值 1.5mg/L 限值0.5,为限值的3.0倍 11-22 14:00"),
        (b, "[Reminder] EXCEEDANCE Shanghai Fengxian Xinda Electroplating, Outfall 1: Total chromium reading 1.5 mg/L, limit 0.5 (3.0x the limit), 22 Nov 14:00"),
    ]


def test_alerts_opening_together_go_as_one_sms() -> None:
    with FakeTwilio(wait_scale=slowness()) as fake:
        incident = Incident(sender_for(fake))
        incident.open(101, "w20116", 1.5, START)
        incident.open(102, "w20121", 0.9, START)
        incident.tick(START)
    assert [(m.to, len(m.body.splitlines())) for m in fake.messages] == [(INSPECTOR_A.phone, 4), (INSPECTOR_B.phone, 4)]
    assert alert_code(101) in fake.messages[0].body and alert_code(102) in fake.messages[0].body


def test_opted_out_recipient_escalates_to_the_next_step_at_once(fake: FakeTwilio) -> None:
    fake.fail_number(INSPECTOR_B.phone, 21610)
    run_incident(fake, 3)
    assert [to for to, _ in received(fake)] == [INSPECTOR_A.phone, LEAD.phone]
    assert received(fake)[1][1].startswith("[升级]")


def test_under_500_429_and_timeouts_every_sms_arrives_at_least_once_and_at_most_twice(fake: FakeTwilio) -> None:
    fake.fail_next(2, http_status=500)
    fake.fail_next(1, http_status=429, code=20429)
    fake.hang_next(1, seconds=2.0)
    fake.fail_next(1, http_status=503)
    incident = run_incident(fake, 320, read_timeout_seconds=0.3)
    bodies = Counter((m.to, m.body) for m in fake.messages)
    expected = Counter((r.planned.recipient.phone, r.body) for r in incident.outbox)
    assert set(bodies) == set(expected) and len(expected) == 7
    assert all(1 <= bodies[k] <= 2 for k in expected)
    assert sum(bodies.values()) <= len(expected) + 1  # only the one that hung after landing went twice
    assert all(r.status == "sent" for r in incident.outbox)


def test_find_sent_matches_number_body_and_time_through_the_list_endpoint(fake: FakeTwilio) -> None:
    sender = sender_for(fake)
    before = datetime.now(UTC)
    sent = sender.send(TO, "【超标】总铬 1.5mg/L", status_callback=None)
    sender.send("+8613900000002", "【超标】总铬 1.5mg/L", status_callback=None)
    found = sender.find_sent(TO, "【超标】总铬 1.5mg/L", since=before)
    assert found is not None and found.provider_id == sent.provider_id
    assert sender.find_sent(TO, "【超标】总铬 9.9mg/L", since=before) is None  # another body
    assert sender.find_sent(TO, "【超标】总铬 1.5mg/L", since=before + timedelta(minutes=5)) is None  # older
    assert sender.find_sent("+8613900000003", "【超标】总铬 1.5mg/L", since=before) is None  # another number
    client = sender._client  # the real client's own filters, as the fake implements them
    assert [m.sid for m in client.messages.list(to=TO, date_sent_after=before - timedelta(seconds=1))] == [sent.provider_id]
    assert client.messages.list(to=TO, date_sent_before=before - timedelta(days=1)) == []


def test_a_failed_lookup_is_a_recoverable_error(fake: FakeTwilio) -> None:
    fake.fail_lookups(1)
    with pytest.raises(SendError) as caught:
        sender_for(fake).find_sent(TO, "x", since=datetime.now(UTC))
    assert caught.value.recoverable and fake.lookups == 1
