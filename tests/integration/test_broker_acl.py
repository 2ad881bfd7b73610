"""The generated Mosquitto configuration: logins and per-device ACL, with real clients."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from envmon import topics
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from tests.mqtt_helpers import ProbeClient, connect, wait_for_logins
from tests.patience import patience

DEV_A, DEV_B = "310120TESTA01", "310120TESTB01"


@pytest.fixture(scope="module")
def devices(stack: StackState) -> dict[str, str]:
    launcher.set_device_credentials(stack, [DEV_A, DEV_B])
    logins = {d: mosquitto.device_secret(stack.secret_key, d) for d in (DEV_A, DEV_B)}
    wait_for_logins(stack.mqtt_port, logins)  # the broker re-reads its files on SIGHUP
    return logins


@pytest.fixture
def service(stack: StackState) -> Iterator[ProbeClient]:
    client = connect(stack.mqtt_port, mosquitto.SERVICE_USER, stack.mqtt_users[mosquitto.SERVICE_USER])
    client.subscribe(topics.subscription(topics.UP))
    yield client
    client.close()


def _wait_for(client: ProbeClient, count: int, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + patience(timeout)
    while len(client.received) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_device_publishes_under_its_own_topic(stack: StackState, devices: dict[str, str], service: ProbeClient) -> None:
    dev = connect(stack.mqtt_port, DEV_A, devices[DEV_A])
    try:
        assert dev.connect_reason is not None and not dev.connect_reason.is_failure
        reason = dev.publish(topics.device_topic(DEV_A, topics.UP), b'{"ok": 1}')
        assert not reason.is_failure
        _wait_for(service, 1)
        assert service.received == [(topics.device_topic(DEV_A, topics.UP), b'{"ok": 1}')]
    finally:
        dev.close()


def test_device_cannot_publish_under_another_devices_topic(
    stack: StackState, devices: dict[str, str], service: ProbeClient
) -> None:
    dev = connect(stack.mqtt_port, DEV_A, devices[DEV_A])
    try:
        reason = dev.publish(topics.device_topic(DEV_B, topics.UP), b'{"forged": 1}')
        reason_own = dev.publish(topics.device_topic(DEV_A, topics.UP), b'{"own": 1}')
        # One connection, one subscriber: the broker keeps the order (MQTT 5 section 4.6), so a forged
        # message that had passed would have arrived before the own one we wait for.
        _wait_for(service, 1)
        assert reason.getName() == "Not authorized"
        assert not reason_own.is_failure
        assert [t for t, _ in service.received] == [topics.device_topic(DEV_A, topics.UP)]
    finally:
        dev.close()


def test_device_receives_only_its_own_commands(stack: StackState, devices: dict[str, str]) -> None:
    dev_a = connect(stack.mqtt_port, DEV_A, devices[DEV_A])
    svc = connect(stack.mqtt_port, mosquitto.SERVICE_USER, stack.mqtt_users[mosquitto.SERVICE_USER])
    try:
        dev_a.subscribe(topics.subscription(topics.CMD))  # a wildcard: read rules still filter delivery
        svc.publish(topics.device_topic(DEV_B, topics.CMD), b"for B")
        svc.publish(topics.device_topic(DEV_A, topics.CMD), b"for A")
        _wait_for(dev_a, 1)  # B's command, had it been delivered, came first (same publisher, order kept)
        assert dev_a.received == [(topics.device_topic(DEV_A, topics.CMD), b"for A")]
    finally:
        dev_a.close()
        svc.close()


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param(None, None, id="anonymous"),
        pytest.param(DEV_A, "wrong-password", id="wrong-password"),
        pytest.param("310120UNKNOWN", "whatever", id="unknown-device"),
    ],
)
def test_bad_logins_are_refused(
    stack: StackState, devices: dict[str, str], username: str | None, password: str | None
) -> None:
    client = connect(stack.mqtt_port, username, password)
    try:
        assert client.connect_reason is not None and client.connect_reason.is_failure
    finally:
        client.close()


def test_service_user_cannot_publish_readings(stack: StackState, service: ProbeClient) -> None:
    reason = service.publish(topics.device_topic(DEV_A, topics.UP), b"{}")
    assert reason.getName() == "Not authorized"


def test_broker_config_raises_queue_limits_and_sets_nodelay(stack: StackState) -> None:
    text = stack.broker.config_file.read_text()
    assert "set_tcp_nodelay true" in text
    assert f"max_queued_messages {mosquitto.MAX_QUEUED_MESSAGES}" in text
    assert mosquitto.MAX_QUEUED_MESSAGES > 1000
    assert "listener" in text and "127.0.0.1" in text and "allow_anonymous false" in text
