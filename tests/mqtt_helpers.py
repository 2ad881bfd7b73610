"""Small synchronous paho-mqtt helpers for tests against the harness's Mosquitto."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.patience import patience


@dataclass
class ProbeClient:
    """A connected MQTT v5 client that records what it receives and its PUBACK reason codes."""

    client: mqtt.Client
    connect_reason: ReasonCode | None = None
    received: list[tuple[str, bytes]] = field(default_factory=list)
    puback: dict[int, ReasonCode] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    subscribed: threading.Event = field(default_factory=threading.Event)
    published: threading.Condition = field(default_factory=threading.Condition)

    def subscribe(self, topic: str, timeout: float = 5) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(patience(timeout)), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, timeout: float = 5) -> ReasonCode:
        """Publish at QoS 1 and return the broker's PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        with self.published:
            assert self.published.wait_for(lambda: info.mid in self.puback, patience(timeout)), f"no PUBACK for {topic}"
        return self.puback[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(port: int, username: str | None, password: str | None, timeout: float = 5) -> ProbeClient:
    """Connect with MQTT v5; the returned client's connect_reason tells whether the broker accepted it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:10]}", protocol=mqtt.MQTTv5)
    tc = ProbeClient(client)
    if username is not None:
        client.username_pw_set(username, password)

    def on_connect(
        c: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: Properties | None
    ) -> None:
        tc.connect_reason = reason
        tc.connected.set()

    def on_message(c: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        tc.received.append((msg.topic, msg.payload))

    def on_subscribe(
        c: mqtt.Client, userdata: object, mid: int, reasons: list[ReasonCode], props: Properties | None
    ) -> None:
        tc.subscribed.set()

    def on_publish(c: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, props: Properties | None) -> None:
        with tc.published:
            tc.puback[mid] = reason
            tc.published.notify_all()

    client.on_connect, client.on_message = on_connect, on_message
    client.on_subscribe, client.on_publish = on_subscribe, on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert tc.connected.wait(patience(timeout)), "no CONNACK"
    return tc


def wait_for_logins(port: int, logins: dict[str, str], timeout: float = 60) -> None:
    """Wait until the broker accepts each login: it re-reads its password file on SIGHUP, in its own time.

    Each try is a real CONNECT answered by the broker; no fixed sleep guesses how long the reload takes.
    """
    deadline = time.monotonic() + patience(timeout)
    for username, password in logins.items():
        while True:
            probe = connect(port, username, password, timeout=max(1.0, deadline - time.monotonic()))
            accepted = probe.connect_reason is not None and not probe.connect_reason.is_failure
            probe.close()
            if accepted:
                break
            assert time.monotonic() < deadline, f"the broker never accepted {username}"
