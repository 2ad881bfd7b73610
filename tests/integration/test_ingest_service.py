"""The ingest service as operators run it: resend of sequence gaps, /metrics and /healthz."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from envmon import topics
from envmon.settings import load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from ingest.service import IngestService
from tests.ingest_helpers import DEVICES, payload, publish, wait_for_count
from tests.mqtt_helpers import connect, wait_for_logins
from tests.patience import patience


@pytest.fixture
def service(stack: StackState, ingest_db: str, request: pytest.FixtureRequest) -> Iterator[tuple[IngestService, int]]:
    settings = load_settings(
        environment="test",
        database_url=ingest_db,
        mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER),
        state_dir=stack.state_dir,
        ingest_http_port=0,
        ingest_client_id=f"svc-{request.node.name[:30]}",
    )
    svc = IngestService(settings)
    port = svc.start()
    assert svc.wait_connected(patience(10))
    yield svc, port
    svc.shutdown()


def test_missing_message_is_requested_and_the_resend_fills_the_gap(
    stack: StackState, service: tuple[IngestService, int], ingest_db: str
) -> None:
    svc, _ = service
    assert svc.gaps is not None
    device = DEVICES[4]
    launcher.set_device_credentials(stack, [device])
    wait_for_logins(stack.mqtt_port, {device: mosquitto.device_secret(stack.secret_key, device)})
    dev = connect(stack.mqtt_port, device, mosquitto.device_secret(stack.secret_key, device))
    try:
        dev.subscribe(topics.device_topic(device, topics.CMD))
        for seq in (1, 2, 3, 5, 6):
            publish(dev, device, payload(device, seq))
        deadline = time.monotonic() + patience(10)
        while not dev.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dev.received, "no resend request arrived"
        topic, body = dev.received[0]
        assert topic == topics.device_topic(device, topics.CMD)
        assert json.loads(body) == {"cmd": "resend", "first_seq": 4, "last_seq": 4, "attempt": 1}
        publish(dev, device, payload(device, 4))
        assert wait_for_count(ingest_db, "SELECT count(DISTINCT seq) FROM readings", 6) == 6
        deadline = time.monotonic() + patience(5)
        while svc.gaps.tracker.missing(device) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.gaps.tracker.missing(device) == []
    finally:
        dev.close()


def _metrics(port: int) -> str:
    return str(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode())


def test_metrics_and_health_endpoints(stack: StackState, service: tuple[IngestService, int], ingest_db: str) -> None:
    _, port = service
    pub = connect(stack.mqtt_port, mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER])
    try:
        publish(pub, DEVICES[0], payload(DEVICES[0], 1))
        publish(pub, DEVICES[0], b"{broken")
    finally:
        pub.close()
    wait_for_count(ingest_db, "SELECT count(*) FROM quarantine", 1)
    wait_for_count(ingest_db, "SELECT count(*) FROM readings", 4)
    # The counters move just after the commit the queries above saw: wait for them, not for time.
    deadline = time.monotonic() + patience(30)
    while "envmon_ingest_readings_stored_total 4.0" not in (text := _metrics(port)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 'envmon_ingest_messages_received_total{transport="mqtt"} 2.0' in text
    assert "envmon_ingest_readings_stored_total 4.0" in text
    assert 'envmon_ingest_quarantined_total{reason="malformed_json"} 1.0' in text
    health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read())
    assert health["ok"] is True and health["mqtt_connected"] is True
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/nope", timeout=5)
    assert info.value.code == 404


def test_last_will_marks_the_device_offline(
    stack: StackState, service: tuple[IngestService, int], ingest_db: str
) -> None:
    device = DEVICES[1]
    launcher.set_device_credentials(stack, [device])
    wait_for_logins(stack.mqtt_port, {device: mosquitto.device_secret(stack.secret_key, device)})
    dev = connect(stack.mqtt_port, device, mosquitto.device_secret(stack.secret_key, device))
    try:
        publish(dev, device, payload(device, 1))
        assert wait_for_count(ingest_db, "SELECT count(*) FROM device_state WHERE online", 1) == 1
        dev.client.publish(topics.device_topic(device, topics.STATUS), b"offline", qos=1, retain=True)
        assert wait_for_count(ingest_db, "SELECT count(*) FROM device_state WHERE NOT online", 1) == 1
    finally:
        dev.client.publish(topics.device_topic(device, topics.STATUS), b"", qos=1, retain=True)  # clear retained
        dev.close()
