"""One simulated MQTT device: its own login, last will on the status topic, seq, and a ring buffer
that answers resend requests on its cmd topic (paho-mqtt, MQTT v5, persistent session)."""

from __future__ import annotations

import json
import logging

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from device_sim.payloads import encode_sample, malformed_payloads, stored_payloads
from device_sim.ring import RingBuffer
from device_sim.samples import Action, Sample
from device_sim.stats import Stats
from envmon import topics

log = logging.getLogger(__name__)
SESSION_EXPIRY_SECONDS = 3600
# MQTT v5 DISCONNECT reason 0x04: close, but have the broker publish the last will (an outage).
DISCONNECT_WITH_WILL = 4
MAX_INFLIGHT = 200
# Ingest asks again for 2.5 minutes (5 tries, 30 s apart); 1,000 messages are 80 min of a gas detector
# at 5 s and 8 h of an analyser, at ~250 KB a device (the demo district holds about 45 MB).
RING_MESSAGES = 1000


class MqttDevice:
    """A device's MQTT connection; publishing is thread-safe (paho queues it for its network thread)."""

    def __init__(self, mn: str, password: str, host: str, port: int, stats: Stats, ring_capacity: int = RING_MESSAGES):
        self.mn = mn
        self._host, self._port = host, port
        self._stats = stats
        self.ring = RingBuffer(ring_capacity)
        self._up = topics.device_topic(mn, topics.UP)
        self._status = topics.device_topic(mn, topics.STATUS)
        self._cmd = topics.device_topic(mn, topics.CMD)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"envmon-sim-{mn}", protocol=mqtt.MQTTv5)
        self._client.username_pw_set(mn, password)
        self._client.will_set(self._status, b"offline", qos=1, retain=True)
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self.refused: str | None = None
        self._stored: list[Sample] = []

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        return props

    def start(self) -> None:
        """Connect in the background (paho retries until the broker answers)."""
        self._client.connect_async(
            self._host, self._port, clean_start=False, properties=self._connect_properties()
        )
        self._client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode,
                    props: Properties | None) -> None:
        if reason.is_failure:
            if self.refused is None:
                log.warning("broker refused device %s: %s", self.mn, reason)
            self.refused = str(reason)
            self._stats.count(errors=1)
            return
        self.refused = None
        client.publish(self._status, b"online", qos=1, retain=True)
        client.subscribe(self._cmd, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            command = json.loads(msg.payload)
            first, last = int(command["first_seq"]), int(command["last_seq"])
        except (ValueError, KeyError, TypeError):
            log.warning("device %s: command not understood: %r", self.mn, msg.payload[:200])
            return
        if command.get("cmd") != "resend":
            return
        found = self.ring.get_range(first, last)
        for _, payload in found:
            client.publish(self._up, payload, qos=1)
        log.info("device %s resent %d of seq %d-%d", self.mn, len(found), first, last)
        self._stats.count(resent=len(found))

    def deliver(self, action: Action, sample: Sample) -> None:
        """Publish a sample (or only keep it in the ring buffer when it is held back)."""
        if action == "stored":
            self._stored.append(sample)
            return
        payload = encode_sample(sample)
        if action in ("send", "hold"):
            self.ring.put(sample.seq, payload)
        if action == "send":
            self._client.publish(self._up, payload, qos=1)

    def malformed(self, sample: Sample, count: int) -> None:
        """Publish a burst of bad messages."""
        for payload in malformed_payloads(sample, count):
            self._client.publish(self._up, payload, qos=1)

    def backlog(self) -> int:
        """Messages paho still has to send or see acknowledged."""
        return len(self._client._out_messages)  # noqa: SLF001 - paho has no public queue length

    def set_online(self, online: bool) -> None:
        """Go down abruptly (the broker publishes the last will) or come back; may block up to a second."""
        if not online:
            self._client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=DISCONNECT_WITH_WILL))
            self._client.loop_stop()
            return
        self.start()
        self._forward_stored()

    def _forward_stored(self) -> None:
        """Back from an outage: send what was measured meanwhile (paho sends it once connected)."""
        if not self._stored:
            return
        for sample in self._stored:
            self.ring.put(sample.seq, encode_sample(sample))
        self.send_stored(stored_payloads(self._stored))
        self._stored = []

    def send_stored(self, payloads: list[bytes]) -> None:
        """Publish store-and-forward `samples` messages (paho queues them until connected)."""
        for payload in payloads:
            self._client.publish(self._up, payload, qos=1)

    def close(self) -> None:
        """A clean stop: say offline on the status topic, then disconnect (no will)."""
        if self._client.is_connected():
            self._client.publish(self._status, b"offline", qos=1, retain=True).wait_for_publish(2)
        self._client.disconnect()
        self._client.loop_stop()
