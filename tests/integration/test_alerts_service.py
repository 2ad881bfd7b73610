"""The alert service end to end: MQTT reading -> ingest -> engine -> outbox -> real twilio client -> fake Twilio,
then delivery callbacks, acknowledgement by SMS reply, escalation, and a restart that keeps everything."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from alerts.notify.fake_twilio import FakeTwilio
from alerts.service import AlertService
from envmon import topics
from envmon.stack.launcher import StackState
from tests.alert_helpers import (
    GAS,
    INSPECTOR_PHONE,
    LEADER_PHONE,
    SAFETY_PHONE,
    WATER,
    alert_settings,
    query,
    start_alerts,
    wait_until,
)
from tests.ingest_helpers import RunningIngest, start_ingest
from tests.mqtt_helpers import ProbeClient

pytestmark = pytest.mark.services


def reading(device: str, seq: int, values: dict[str, object], when: datetime | None = None) -> bytes:
    t = when or datetime.now(UTC)
    return json.dumps({"device": device, "seq": seq, "time": t.isoformat(), "values": values}).encode()


@pytest.fixture
def running(
    stack: StackState, alert_db: str, fake: FakeTwilio, request: pytest.FixtureRequest
) -> Iterator[tuple[RunningIngest, AlertService]]:
    ingest = start_ingest(stack, alert_db, client_id=f"envmon-ingest-{request.node.name[:40]}")
    service = start_alerts(alert_settings(stack, alert_db, fake))
    ingest.pipeline.subscribe(service)
    yield ingest, service
    service.shutdown()
    ingest.shutdown()


def send(publisher: ProbeClient, device: str, seq: int, values: dict[str, object]) -> None:
    publisher.publish(topics.device_topic(device, topics.UP), reading(device, seq, values))


def test_a_gas_alarm_texts_the_safety_officer_once_with_code_and_link(
    running: tuple[RunningIngest, AlertService], publisher: ProbeClient, fake: FakeTwilio, alert_db: str
) -> None:
    for seq in range(1, 4):
        send(publisher, GAS, seq, {"s02001": 20.0})  # H2S 20 ppm: above level 2 (13.2 ppm)
    [sms] = fake.wait_for_messages(1)
    assert sms.to == SAFETY_PHONE
    [(code, severity, state)] = query(alert_db, "SELECT code, severity, state FROM alerts")
    assert (severity, state) == ("level2", "open")
    assert code in sms.body and "https://envmon.example/r/" in sms.body and "H2S" in sms.body
    assert sms.status_callback == "https://envmon.example/twilio/status"
    assert wait_until(lambda: query(alert_db, "SELECT status, provider_id FROM notifications")) == [("sent", sms.sid)]
    assert len(fake.messages) == 1, "one alarm, one SMS"


def test_delivery_callbacks_are_recorded_in_any_order(
    running: tuple[RunningIngest, AlertService], publisher: ProbeClient, fake: FakeTwilio, alert_db: str
) -> None:
    _, service = running
    send(publisher, GAS, 1, {"s02001": 20.0})
    [sms] = fake.wait_for_messages(1)
    assert wait_until(lambda: query(alert_db, "SELECT 1 FROM notifications WHERE provider_id = %s", sms.sid))
    fake.rewrite = lambda public: public.replace("https://envmon.example", f"http://127.0.0.1:{service.http_port}")
    assert sms.sid is not None
    fake.send_status_callbacks(sms.sid, ("delivered", "sent", "delivered"))
    assert wait_until(lambda: query(alert_db, "SELECT status FROM notifications") == [("delivered",)])


def test_a_reply_from_the_notified_phone_acknowledges_the_alert(
    running: tuple[RunningIngest, AlertService], publisher: ProbeClient, fake: FakeTwilio, alert_db: str
) -> None:
    _, service = running
    send(publisher, GAS, 1, {"s02001": 20.0})
    fake.wait_for_messages(1)
    [(code,)] = query(alert_db, "SELECT code FROM alerts")
    fake.rewrite = lambda public: public.replace("https://envmon.example", f"http://127.0.0.1:{service.http_port}")
    url = "https://envmon.example/twilio/sms"
    assert fake.post_inbound_sms(url, from_=LEADER_PHONE, to="+15005550006", body=f"1 {code}") == 200
    assert query(alert_db, "SELECT state FROM alerts") == [("open",)], "a number never told may not acknowledge"
    assert fake.post_inbound_sms(url, from_=SAFETY_PHONE, to="+15005550006", body=f"1 {code.lower()}") == 200
    assert query(alert_db, "SELECT state, disposition, acknowledged_by FROM alerts") == [
        ("acknowledged", "confirmed", f"sms:{SAFETY_PHONE}")
    ]
    outcomes = [r[0] for r in query(alert_db, "SELECT outcome FROM sms_replies ORDER BY id")]
    assert outcomes == ["refused", "acknowledged"]


def test_an_unacknowledged_exceedance_escalates_to_the_next_step(
    running: tuple[RunningIngest, AlertService], publisher: ProbeClient, fake: FakeTwilio, alert_db: str
) -> None:
    for seq in range(1, 4):
        send(publisher, WATER, seq, {"w20117": 450.0, "w00000": 3.2})  # Cr(VI) 450 µg/L = 0.45 mg/L: 4.5x of 0.1
    first = fake.wait_for_messages(1)[0]
    assert first.to == INSPECTOR_PHONE and "六价铬" in first.body
    second = fake.wait_for_messages(2, timeout_seconds=10)[1]
    assert second.to == LEADER_PHONE
    # 4.5x of GB 21900's daily-mean limit in instantaneous values is a pre-warning, not a severe exceedance
    # (issue 16): it escalates like any unacknowledged pollution alert, worded as a pre-warning.
    assert query(alert_db, "SELECT severity, state, escalation_level FROM alerts") == [("warning", "escalated", 1)]
    assert "超日均限值" in first.body
    assert query(alert_db, "SELECT detail->>'prewarning_of', detail->>'side' FROM alerts") == [("day", "upper")]


def test_a_restart_keeps_the_open_alert_and_sends_nothing_twice(
    stack: StackState, alert_db: str, fake: FakeTwilio, publisher: ProbeClient
) -> None:
    ingest = start_ingest(stack, alert_db, client_id="envmon-ingest-restart")
    try:
        service = start_alerts(alert_settings(stack, alert_db, fake))
        ingest.pipeline.subscribe(service)
        send(publisher, GAS, 1, {"s02001": 20.0})
        fake.wait_for_messages(1)
        service.shutdown()
        again = start_alerts(alert_settings(stack, alert_db, fake))
        ingest.pipeline.subscribe(again)
        for seq in range(2, 5):
            send(publisher, GAS, seq, {"s02001": 25.0})
        assert wait_until(lambda: query(alert_db, "SELECT peak_value FROM alerts") == [(25.0,)])
        again.shutdown()
    finally:
        ingest.shutdown()
    assert query(alert_db, "SELECT count(*) FROM alerts") == [(1,)]
    assert len(fake.messages) == 1


def test_live_views_hear_of_new_readings_and_alerts(
    running: tuple[RunningIngest, AlertService], publisher: ProbeClient, fake: FakeTwilio, alert_db: str
) -> None:
    with psycopg.connect(alert_db, autocommit=True) as listener:
        listener.execute("LISTEN envmon_events")
        send(publisher, GAS, 1, {"s02001": 20.0})
        events: list[dict[str, object]] = []
        # Readings are announced with device state, within about a second; the alert when it opens.
        for note in listener.notifies(timeout=10):
            events.append(json.loads(note.payload))
            if {"alert", "readings"} <= {str(e["kind"]) for e in events}:
                break
    [(device_id,)] = query(alert_db, "SELECT id FROM devices WHERE mn = %s", GAS)
    assert {"kind": "readings", "devices": [device_id]} in events
    alert = next(e for e in events if e["kind"] == "alert")
    assert (alert["state"], alert["severity"], alert["device_id"]) == ("open", "level2", device_id)


def test_the_report_is_ready_behind_the_sms_link(
    stack: StackState, alert_db: str, fake: FakeTwilio, publisher: ProbeClient
) -> None:
    ingest = start_ingest(stack, alert_db, client_id="envmon-ingest-report")
    service = start_alerts(alert_settings(stack, alert_db, fake, alerts_reports=True))
    ingest.pipeline.subscribe(service)
    try:
        send(publisher, GAS, 1, {"s02001": 20.0})
        [sms] = fake.wait_for_messages(1)
        assert wait_until(lambda: query(alert_db, "SELECT count(*) FROM reports")[0][0] == 2, timeout=30)
        link = next(word for word in sms.body.split() if "/r/" in word)
        local = link.replace("https://envmon.example", f"http://127.0.0.1:{service.http_port}")
        # The safety officer reads English: the link opens the English report, whatever ?lang= says.
        for suffix in ("", "?lang=zh-CN"):
            with urllib.request.urlopen(local + suffix, timeout=10) as response:
                page = response.read().decode()
            assert '<html lang="en">' in page and "Hydrogen sulphide" in page
            assert 'id="report-pdf"' in page and ">中文版</a>" in page
        tampered = local[:-3] + ("AAA" if not local.endswith("AAA") else "BBB")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(tampered, timeout=10)
        assert refused.value.code == 403
    finally:
        service.shutdown()
        ingest.shutdown()
