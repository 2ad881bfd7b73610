"""The MQTT source: paho-mqtt 2.x, MQTT v5, QoS 1, persistent session, acknowledgement after commit.

Clean start is false on every connect and the session outlives disconnects, so the broker keeps
unacknowledged messages for us. A message id belongs to one connection: acknowledgements for
items received on an earlier connection are dropped (the broker redelivers those, and the
database ignores the duplicates).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from envmon import topics
from envmon.batchwire import BATCH_TOPIC, LANE_BATCH_TOPIC
from envmon.protocols.mqtt_wire import Publish
from ingest.mqtt_client import FastClient
from ingest.pipeline import Inbound, Pipeline

log = logging.getLogger(__name__)
SESSION_EXPIRY_SECONDS = 7 * 24 * 3600
SHARE_GROUP = "envmon-ingest"
# Topic -> device cache; bounded so a flood of bogus topics cannot grow it without end.
TOPIC_CACHE_MAX = 100_000


class MqttSource:
    """Subscribes to every device's `up` topic and feeds the pipeline."""

    transport = "mqtt"

    def __init__(
        self,
        mqtt_url: str,
        pipeline: Pipeline,
        *,
        client_id: str = "envmon-ingest",
        shared: bool = False,
        receive_maximum: int = 65535,
        on_status: Callable[[str, bytes], None] | None = None,
    ) -> None:
        parts = urlsplit(mqtt_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 1883
        self._pipeline = pipeline
        self._topic = (f"$share/{SHARE_GROUP}/" if shared else "") + topics.subscription(topics.UP)
        self._receive_maximum = min(receive_maximum, pipeline.config.queue_max, 65535)
        self._devices: dict[str, str | None] = {}
        self._on_status = on_status
        self.connected = threading.Event()
        self._client = FastClient(client_id, self._on_publishes)
        if parts.username:
            self._client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._data_mid = -1
        self._session_present = False
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect

    def start(self) -> None:
        """Connect (retrying in the background) and start the network thread."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        props.ReceiveMaximum = self._receive_maximum
        self._client.connect_async(self._host, self._port, keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect; unacknowledged messages stay with the broker's session."""
        self._client.disconnect()
        self._client.loop_stop()

    def network_thread(self) -> threading.Thread | None:
        """paho's network thread (None before `start`), for the health check."""
        return self._client._thread

    def publish_command(self, device: str, payload: bytes) -> None:
        """Send a command to one device on its `cmd` topic (QoS 1)."""
        self._client.publish(topics.device_topic(device, topics.CMD), payload, qos=1)

    def publish_batch(self, payload: bytes) -> None:
        """Hand a committed batch to alert engines in other processes (QoS 1, see envmon.batchwire)."""
        self._client.publish(BATCH_TOPIC, payload, qos=1)

    def publish_lane_batch(self, payload: bytes) -> None:
        """The same for a priority lane batch (ingest/lane.py), on its own topic."""
        self._client.publish(LANE_BATCH_TOPIC, payload, qos=1)

    def ack(self, tokens: list[object]) -> None:
        """Acknowledge stored messages of the current connection, in arrival order, as one write."""
        current = self._client.generation
        mids = []
        for token in tokens:
            generation, mid, qos = cast(tuple[int, int, int], token)
            if generation == current and qos > 0:
                mids.append(mid)
        self._client.ack_many(current, mids)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        # `connected` waits for the SUBACK (`_on_subscribe`): on a first connection the broker drops what
        # devices publish before the subscription exists, so "ready" must mean subscribed, not connected.
        self._session_present = flags.session_present
        _, mid = client.subscribe(self._topic, qos=1)
        self._data_mid = -1 if mid is None else mid
        if self._on_status is not None:
            # QoS 0: status messages are retained and idempotent, and their PUBACKs would have to be
            # ordered among the data acks; the silence timer covers a lost one.
            client.subscribe(topics.subscription(topics.STATUS), qos=0)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        props: Properties | None,
    ) -> None:
        if mid != self._data_mid:
            return  # the status subscription
        if any(r.is_failure for r in reasons):
            log.error("broker refused the subscription to %s: %s", self._topic, reasons)
            return
        self._pipeline.metrics.mqtt_connected.set(1)
        self.connected.set()
        log.info(
            "connected to %s:%d (session present: %s), subscribed to %s",
            self._host,
            self._port,
            self._session_present,
            self._topic,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        self.connected.clear()
        self._pipeline.metrics.mqtt_connected.set(0)
        log.warning("disconnected from the broker: %s", reason)

    def _on_publishes(self, batch: list[Publish], generation: int) -> None:
        # Runs on paho's network thread, once per read: hand over and return.
        now = datetime.now(UTC)
        if self._on_status is not None and any(p.qos == 0 for p in batch):
            batch = self._take_statuses(batch)
        items = [
            Inbound(self, (generation, p.mid, p.qos), p.topic, self._device_of(p.topic), p.payload, now) for p in batch
        ]
        self._pipeline.submit_many(items)

    def _take_statuses(self, batch: list[Publish]) -> list[Publish]:
        """Hand status messages to the presence monitor; return the rest."""
        assert self._on_status is not None
        rest = []
        for p in batch:
            if p.topic.endswith("/" + topics.STATUS) and (device := self._device_of(p.topic)) is not None:
                self._on_status(device, p.payload)
            else:
                rest.append(p)
        return rest

    def _device_of(self, topic: str) -> str | None:
        try:
            return self._devices[topic]
        except KeyError:
            if len(self._devices) >= TOPIC_CACHE_MAX:
                self._devices.clear()
            device = self._devices[topic] = topics.device_of_topic(topic)
            return device
