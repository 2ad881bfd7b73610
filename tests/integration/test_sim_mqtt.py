"""Simulated MQTT devices against the harness's Mosquitto: their own logins, last will, resends from
the ring buffer; and load mode at its target rate."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from device_sim.errors import SimError
from device_sim.load import LoadConfig, broker_login, run_load
from device_sim.mqtt_device import MqttDevice
from device_sim.payloads import encode_sample
from device_sim.samples import Sample
from device_sim.stats import Stats
from envmon import topics
from envmon.settings import load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from tests.mqtt_helpers import ProbeClient, connect, wait_for_logins
from tests.patience import patience, slowness

MN = "310120SIM01W01"
T0 = 1_795_000_000.0


@pytest.fixture
def service_probe(stack: StackState) -> Iterator[ProbeClient]:
    probe = connect(stack.mqtt_port, mosquitto.SERVICE_USER, stack.mqtt_users[mosquitto.SERVICE_USER])
    yield probe
    probe.close()


@pytest.fixture
def device(stack: StackState) -> Iterator[tuple[MqttDevice, Stats]]:
    launcher.set_device_credentials(stack, [MN])
    wait_for_logins(stack.mqtt_port, {MN: mosquitto.device_secret(stack.secret_key, MN)})
    stats = Stats()
    dev = MqttDevice(MN, mosquitto.device_secret(stack.secret_key, MN), "127.0.0.1", stack.mqtt_port, stats)
    dev.start()
    yield dev, stats
    dev.close()


def _sample(seq: int) -> Sample:
    return Sample(MN, seq, T0 + 30 * seq, ("w20117",), (20.0 + seq,), ("N",))


def _wait(predicate: object, timeout: float = 30) -> bool:
    deadline = time.monotonic() + patience(timeout)
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _seqs(probe: ProbeClient) -> list[int]:
    return [json.loads(p)["seq"] for t, p in probe.received if t.endswith("/up")]


def test_ring_buffer_answers_a_resend_with_exactly_the_missing_messages(
    device: tuple[MqttDevice, Stats], service_probe: ProbeClient
) -> None:
    dev, stats = device
    service_probe.subscribe(topics.device_topic(MN, topics.UP))
    for seq in range(1, 11):
        dev.deliver("hold" if seq in (4, 5, 6) else "send", _sample(seq))
    assert _wait(lambda: len(_seqs(service_probe)) == 7)
    assert _seqs(service_probe) == [1, 2, 3, 7, 8, 9, 10]
    command = json.dumps({"cmd": "resend", "first_seq": 4, "last_seq": 6, "attempt": 1}).encode()
    service_probe.publish(topics.device_topic(MN, topics.CMD), command)
    assert _wait(lambda: len(_seqs(service_probe)) == 10)
    # A sentinel: the device publishes in order on one connection, so any further resend of 4..6
    # would arrive before 11.
    dev.deliver("send", _sample(11))
    assert _wait(lambda: len(_seqs(service_probe)) == 11)
    assert _seqs(service_probe)[7:] == [4, 5, 6, 11]
    assert stats.snapshot()["resent"] == 3
    # Published again unchanged: same seq, same sample time, same values.
    assert [p for _, p in service_probe.received[7:10]] == [encode_sample(_sample(s)) for s in (4, 5, 6)]

def test_outage_publishes_the_last_will_and_return_says_online(
    device: tuple[MqttDevice, Stats], service_probe: ProbeClient
) -> None:
    dev, _ = device
    status = topics.device_topic(MN, topics.STATUS)
    service_probe.subscribe(status)
    assert _wait(lambda: (status, b"online") in service_probe.received)
    dev.set_online(False)
    assert _wait(lambda: (status, b"offline") in service_probe.received), "the broker did not publish the will"
    service_probe.received.clear()
    dev.set_online(True)
    assert _wait(lambda: (status, b"online") in service_probe.received)
    assert dev.refused is None


def test_a_device_with_a_wrong_password_is_refused_and_counted(stack: StackState) -> None:
    launcher.set_device_credentials(stack, [MN])
    stats = Stats()
    dev = MqttDevice(MN, "wrong", "127.0.0.1", stack.mqtt_port, stats)
    dev.start()
    try:
        assert _wait(lambda: dev.refused is not None)
        assert stats.snapshot()["errors"] >= 1
    finally:
        dev.close()


def test_load_mode_paces_at_its_rate_against_mosquitto(stack: StackState, service_probe: ProbeClient) -> None:
    """Paced: never above its rate, and at it on an idle machine. Whether the rate is reached on this machine is
    the benchmark's question (`envmon bench sim`): with four busy loops beside it, this test reached 67 %."""
    service_probe.subscribe(topics.subscription(topics.UP))
    cfg = LoadConfig(stack.mqtt_port, mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER], devices=500,
                     readings_per_s=20_000, duration_seconds=3.0, publishers=1, mn_prefix="LOADT")
    result = run_load(cfg)
    assert result["messages_acked"] == result["messages_sent"] > 0
    assert result["refused"] == 0
    assert 0.9 * cfg.readings_per_s / slowness() <= result["achieved_readings_per_s"] <= 1.1 * cfg.readings_per_s
    assert _wait(lambda: len(service_probe.received) >= result["messages_sent"], timeout=20)
    devices = {topics.device_of_topic(t) for t, _ in service_probe.received}
    assert len(devices) == 500


def test_load_mode_logs_in_as_the_simulator_user_of_the_local_stack(stack: StackState) -> None:
    settings = load_settings(environment="test", state_dir=stack.state_dir)
    assert broker_login(settings, None) == (stack.mqtt_port, mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER])
    assert broker_login(settings, "mqtt://u:p@127.0.0.1:1999") == (1999, "u", "p")
    with pytest.raises(SimError, match="needs user and password"):
        broker_login(settings, "mqtt://127.0.0.1:1999")


def test_store_and_forward_sends_what_was_measured_during_the_outage(
    device: tuple[MqttDevice, Stats], service_probe: ProbeClient
) -> None:
    dev, _ = device
    service_probe.subscribe(topics.device_topic(MN, topics.UP))
    dev.deliver("send", _sample(1))
    assert _wait(lambda: len(service_probe.received) == 1)
    dev.set_online(False)
    for seq in (2, 3, 4):
        dev.deliver("stored", _sample(seq))
    # Nothing can go out during the outage (no connection); what comes after it is checked below: one
    # forwarded batch of 2..4, then 5, and nothing else.
    assert len(service_probe.received) == 1
    dev.set_online(True)
    dev.deliver("send", _sample(5))
    assert _wait(lambda: len(service_probe.received) == 3)
    forwarded = json.loads(service_probe.received[1][1])
    assert [s["seq"] for s in forwarded["samples"]] == [2, 3, 4] and forwarded["device"] == MN
    assert json.loads(service_probe.received[2][1])["seq"] == 5
    assert [s for s, _ in dev.ring.get_range(1, 5)] == [1, 2, 3, 4, 5]  # stored samples can be resent too
