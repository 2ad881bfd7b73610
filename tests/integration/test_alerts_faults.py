"""Faults around the alert service: the engine killed with SIGKILL during an incident, and a Twilio that
fails with 500, 429 and timeouts. No alert is lost or duplicated; every SMS arrives at least once and at
most twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from alerts.notify.fake_twilio import FakeTwilio
from alerts.notify.sms import RetryPolicy
from alerts.notify.twilio_sms import TwilioSmsSender
from envmon import topics
from envmon.stack import mosquitto
from envmon.stack.launcher import StackState
from ingest.batch_bus import BatchPublisher
from tests.alert_helpers import (
    GAS,
    INSPECTOR_PHONE,
    LEADER_PHONE,
    SAFETY_PHONE,
    WATER,
    alert_settings,
    load_alert_registry,
    query,
    start_alerts,
    wait_until,
)
from tests.ingest_helpers import RunningIngest, start_ingest
from tests.mqtt_helpers import ProbeClient
from tests.patience import patience

pytestmark = pytest.mark.services


def send(publisher: ProbeClient, device: str, seq: int, values: dict[str, object]) -> None:
    body = {"device": device, "seq": seq, "time": datetime.now(UTC).isoformat(), "values": values}
    publisher.publish(topics.device_topic(device, topics.UP), json.dumps(body).encode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AlertsProcess:
    """`envmon alerts` as a process of its own, reading ingest's batches from the broker."""

    def __init__(self, stack: StackState, database_url: str, fake: FakeTwilio) -> None:
        self.port = free_port()
        self.env = {
            **os.environ, "ENVMON_ENVIRONMENT": "test", "DATABASE_URL": database_url,
            "MQTT_URL": stack.mqtt_url_for(mosquitto.SERVICE_USER), "ENVMON_SECRET_KEY": "fault-test-" + "k" * 40,
            "ENVMON_ALERTS_HTTP_PORT": str(self.port), "ENVMON_ALERTS_TICK_SECONDS": "0.2",
            "ENVMON_ALERTS_REPORTS": "false", "ENVMON_TWILIO_ACCOUNT_SID": fake.account_sid,
            "ENVMON_TWILIO_AUTH_TOKEN": fake.auth_token, "ENVMON_TWILIO_FROM_NUMBER": "+15005550006",
            "ENVMON_TWILIO_API_BASE_URL": fake.base_url, "ENVMON_PUBLIC_BASE_URL": "https://envmon.example",
            "ENVMON_STATE_DIR": str(stack.state_dir),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "envmon_app", "alerts"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The signal is its health answer (or its exit); the deadline only bounds a start that hangs.
        proc = self.proc
        # Judged on the answer that ended the wait: asking again could meet a busy machine's slow answer.
        state = wait_until(lambda: "healthy" if self.healthy() else "exited" if proc.poll() is not None else "",
                           timeout=30)
        assert state != "exited", f"envmon alerts exited with {proc.returncode} while starting"
        assert state == "healthy", "envmon alerts did not become healthy"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=patience(2)) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def readings_evaluated(self) -> float:
        """The engine's count of evaluated readings (its /metrics); 0 while it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return 0.0
        return sum(float(ln.split()[-1]) for ln in text.splitlines()
                   if ln.startswith("envmon_alerts_readings_evaluated_total"))

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(patience(10))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(patience(30))


@pytest.fixture
def bus_ingest(stack: StackState, database_url: str) -> Iterator[RunningIngest]:
    load_alert_registry(database_url)
    ingest = start_ingest(stack, database_url, client_id="envmon-ingest-faults")
    ingest.pipeline.subscribe(BatchPublisher(ingest.source.publish_batch))
    yield ingest
    ingest.shutdown()


def test_an_engine_killed_during_an_incident_loses_no_alert_and_duplicates_none(
    stack: StackState, database_url: str, bus_ingest: RunningIngest, fake: FakeTwilio, publisher: ProbeClient
) -> None:
    engine = AlertsProcess(stack, database_url, fake)
    engine.start()
    try:
        send(publisher, GAS, 1, {"s02001": 20.0})
        fake.wait_for_messages(1)
        # Two of the three samples a discharge pre-warning needs, then the engine dies mid-hold.
        send(publisher, WATER, 1, {"w20117": 450.0, "w00000": 3.0})
        send(publisher, WATER, 2, {"w20117": 450.0, "w00000": 3.0})
        wait_until(lambda: query(database_url, "SELECT count(*) FROM readings WHERE pollutant = 'w20117'") == [(2,)])
        # The engine has evaluated both batches (1 gas reading, 2 x 2 water readings) before it dies.
        assert wait_until(lambda: engine.readings_evaluated() >= 5, timeout=60)
        engine.kill()
        send(publisher, GAS, 2, {"s02001": 22.0})
        send(publisher, WATER, 3, {"w20117": 460.0, "w00000": 3.0})  # waits in the broker for the engine
        engine.start()
        assert wait_until(lambda: query(database_url, "SELECT count(*) FROM alerts") == [(2,)], timeout=20)
        messages = fake.wait_for_messages(2)
    finally:
        engine.stop()
    rows = query(database_url, "SELECT d.mn, a.rule, a.state, a.peak_value FROM alerts a JOIN devices d ON d.id = a.device_id ORDER BY a.id")
    # The pollution chain escalates after 3 s of wall time: on a busy machine the water alert may have.
    assert rows in ([(GAS, "gas", "open", 22.0), (WATER, "instant", state, 0.46)] for state in ("open", "escalated"))
    per_phone = Counter(m.to for m in messages)
    assert per_phone[SAFETY_PHONE] == 1 and 1 <= per_phone[INSPECTOR_PHONE] <= 2


def test_a_failing_twilio_delivers_every_sms_at_least_once_and_at_most_twice(
    stack: StackState, database_url: str, fake: FakeTwilio, publisher: ProbeClient
) -> None:
    load_alert_registry(database_url)
    ingest = start_ingest(stack, database_url, client_id="envmon-ingest-twilio-faults")
    sender = TwilioSmsSender(account_sid=fake.account_sid, auth_token=fake.auth_token, from_number="+15005550006",
                             api_base_url=fake.base_url, read_timeout_seconds=1.0)
    fake.fail_next(1, http_status=500)
    fake.fail_next(1, http_status=429)
    fake.hang_next(1, seconds=2.0)  # lands, but answers after the client gave up: may go twice
    fake.fail_next(1, http_status=503)
    service = start_alerts(alert_settings(stack, database_url, fake), sender=sender,
                           retry=RetryPolicy(base_seconds=0.2, max_delay_seconds=1.0))
    ingest.pipeline.subscribe(service)
    try:
        send(publisher, GAS, 1, {"s02001": 20.0})
        for seq in range(1, 4):
            send(publisher, WATER, seq, {"w20117": 450.0, "w00000": 3.0})
        # gas officer, inspector, then the leader when the exceedance escalates after 3 s
        assert wait_until(
            lambda: query(database_url, "SELECT count(*) FROM notifications WHERE status = 'sent'") == [(3,)],
            timeout=30,
        )
    finally:
        service.shutdown()
        ingest.shutdown()
    per_phone = Counter(m.to for m in fake.messages)
    assert set(per_phone) == {SAFETY_PHONE, INSPECTOR_PHONE, LEADER_PHONE}
    assert all(1 <= n <= 2 for n in per_phone.values()), per_phone
    assert len(fake.requests) > len(fake.messages), "the programmed failures happened"


def role(engine: AlertsProcess) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{engine.port}/healthz", timeout=patience(2)) as response:
            return str(json.loads(response.read())["role"])
    except OSError:
        return None


def test_a_standby_takes_over_the_shard_when_the_active_engine_dies(
    stack: StackState, database_url: str, bus_ingest: RunningIngest, fake: FakeTwilio, publisher: ProbeClient
) -> None:
    first, second = AlertsProcess(stack, database_url, fake), AlertsProcess(stack, database_url, fake)
    first.start()
    assert wait_until(lambda: role(first) == "active")
    second.start()
    try:
        assert role(second) == "standby"
        send(publisher, GAS, 1, {"s02001": 20.0})
        fake.wait_for_messages(1)
        send(publisher, WATER, 1, {"w20117": 450.0, "w00000": 3.0})
        send(publisher, WATER, 2, {"w20117": 450.0, "w00000": 3.0})
        assert wait_until(lambda: first.readings_evaluated() >= 5, timeout=60)  # mid-hold when it dies
        first.kill()
        killed_at = time.monotonic()
        assert wait_until(lambda: role(second) == "active", timeout=15)
        takeover_seconds = time.monotonic() - killed_at
        send(publisher, WATER, 3, {"w20117": 460.0, "w00000": 3.0})
        send(publisher, GAS, 2, {"s02001": 24.0})
        assert wait_until(lambda: query(database_url, "SELECT count(*) FROM alerts") == [(2,)], timeout=20)
        messages = fake.wait_for_messages(2)
        assert wait_until(lambda: query(database_url, "SELECT max(peak_value) FROM alerts WHERE rule = 'gas'") == [(24.0,)])
    finally:
        first.stop()
        second.stop()
    assert takeover_seconds < 5, f"takeover took {takeover_seconds:.1f} s"
    per_phone = Counter(m.to for m in messages)
    assert per_phone[SAFETY_PHONE] == 1 and 1 <= per_phone[INSPECTOR_PHONE] <= 2
