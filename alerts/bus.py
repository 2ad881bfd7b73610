"""Committed batches from ingest in another process: the internal batch topic, acknowledged after the engine.

`envmon alerts` subscribes to `envmon.batchwire.BATCH_TOPIC` (and, with a second client, to the priority
lane's `LANE_BATCH_TOPIC`) with QoS 1, a stable client id and a persistent session (clean start false on
every connect), so the broker keeps what arrives while the engine is down. `handle` gets each batch with an
`ack` to call once the engine evaluated it and committed what it changed (in order, from the engine's
thread); a batch not acknowledged comes again after a restart.
A broker killed before its autosave forgets batches anyway: `on_connect` tells the engine to catch up from
the database (alerts/catchup.py) after every (re)connection.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from envmon.batchwire import BATCH_TOPIC, BatchWireError, decode_batch
from envmon.columns import ReadingColumns

log = logging.getLogger(__name__)
SESSION_EXPIRY_SECONDS = 7 * 24 * 3600


class BatchBus:
    """Receives committed batches and hands them, in order, to `handle` from the caller's thread (`run`)."""

    def __init__(
        self, mqtt_url: str, handle: Callable[[ReadingColumns, Callable[[], None]], None], *,
        client_id: str = "envmon-alerts", on_connect: Callable[[], None] | None = None, topic: str = BATCH_TOPIC,
    ) -> None:
        parts = urlsplit(mqtt_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 1883
        self._handle = handle
        self._topic = topic
        self._connected_hook = on_connect
        self._inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue(maxsize=1000)
        self.connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if parts.username:
            self._client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        self._client.max_inflight_messages_set(100)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def run(self, stop: threading.Event, active: threading.Event) -> None:
        """While `active` is set, connect and hand batches over as they come; disconnect when it clears
        (a standby must not hold the shard's session) and when `stop` is set."""
        while not stop.is_set():
            if not active.wait(0.5):
                continue
            self._connect()
            try:
                while not stop.is_set() and active.is_set():
                    try:
                        message = self._inbox.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    self._process(message)
            finally:
                self._client.disconnect()
                self._client.loop_stop()
                self._drain()

    def _connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        self._client.connect_async(self._host, self._port, keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()

    def _drain(self) -> None:
        """Forget messages received but not handed over: unacknowledged, the broker sends them again."""
        while not self._inbox.empty():
            self._inbox.get_nowait()

    def _process(self, message: mqtt.MQTTMessage) -> None:
        def ack() -> None:
            self._client.ack(message.mid, message.qos)

        try:
            batch = decode_batch(bytes(message.payload))
        except BatchWireError as exc:
            log.error("dropping a message on %s that is not a batch: %s", message.topic, exc)
            ack()
            return
        self._handle(batch, ack)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(message)  # blocks paho's thread when the engine lags: backpressure to the broker

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        client.subscribe(self._topic, qos=1)
        self.connected.set()
        # Whatever the session flag says, a broker restarted from an old file may have lost batches.
        if self._connected_hook is not None:
            self._connected_hook()
        log.info("alerts connected to %s:%d (session present: %s)", self._host, self._port, flags.session_present)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.DisconnectFlags, reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        self.connected.clear()
        log.warning("alerts disconnected from the broker: %s", reason)
