"""paho-mqtt's Client with a buffered read path for PUBLISH packets and PUBACKs sent in bulk.

paho keeps everything that is hard to get right: connecting, the MQTT v5 session (clean start
false, session expiry, Receive Maximum), keepalive, reconnecting, subscribing, publishing. Two hot
paths are replaced, because at 10,000 messages/s they cost more than decoding and storing:

- reading: paho reads one packet per `select` with three or more `recv` calls, and builds an
  `MQTTMessage` and a `Properties` object per message. Each `recv` releases and re-takes the GIL,
  which the writer thread mostly holds, so the network thread spends its time waiting for it.
  Here one `recv` of up to READ_BYTES is split into packets (envmon/protocols/mqtt_wire.py); PUBLISH
  packets of QoS 0 and 1 go to `on_publishes` as one list per read, every other packet is handed
  to paho's own `_packet_handle`, in arrival order.
- acknowledging: `Client.ack` queues one PUBACK per message and wakes the network thread for
  each; `ack_many` queues the PUBACKs of a committed batch as one write, in arrival order.

It relies on paho 2.x internals (`_sock`, `_sock_recv`, `_packet_handle`, `_in_packet`,
`_packet_queue`, `_loop_rc_handle`); REQUIRED_INTERNALS are checked when a client is built.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket

from envmon.protocols.mqtt_wire import PUBACK, PUBLISH, Publish, WireError, parse_publish, pubacks, split_packets

log = logging.getLogger(__name__)
# One read takes what the kernel has, up to this; a few hundred messages at full load.
READ_BYTES = 256 * 1024
# Under load the broker writes each message as its own small segment and a read found about five (1.4 kB,
# `envmon bench ingest` at 170k readings/s); every read costs a select, a recv and paho's loop. After a
# read of several messages the thread waits this long so the next read takes many more; a lone message
# (low load) is never held back.
READ_COALESCE_SECONDS = 0.002
REQUIRED_INTERNALS = ("_sock", "_sock_recv", "_packet_handle", "_packet_queue", "_loop_rc_handle", "_msgtime_mutex")

OnPublishes = Callable[[list[Publish], int], None]


class FastClient(mqtt.Client):
    """An MQTT v5 client with manual acknowledgement; see the module docstring for what differs.

    `generation` counts connections: it is raised before every (re)connect, so packet ids of an
    earlier connection can be told apart and their acknowledgements dropped.
    """

    def __init__(self, client_id: str, on_publishes: OnPublishes) -> None:
        super().__init__(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
        missing = [name for name in REQUIRED_INTERNALS if not hasattr(self, name)]
        if missing:
            raise RuntimeError(f"this paho-mqtt lacks {', '.join(missing)}: ingest/mqtt_client.py needs updating")
        self._on_publishes = on_publishes
        self._rbuf = bytearray()
        self._rbuf_sock: object | None = None
        self._generation_lock = threading.Lock()
        self.generation = 0

    def reconnect(self) -> MQTTErrorCode:
        # Raised before paho drops its queued packets, so a late ack_many cannot slip onto the
        # new connection with a packet id of the old one.
        with self._generation_lock:
            self.generation += 1
        return super().reconnect()

    def ack_many(self, generation: int, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages of connection `generation` in this order; stale ones are dropped."""
        if not mids:
            return
        with self._generation_lock:
            if generation == self.generation:
                self._packet_queue(PUBACK, pubacks(mids), 0, 0)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read what the socket has and handle every complete packet in it (paho calls this)."""
        sock = self._sock
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        if sock is not self._rbuf_sock:  # a new connection: a partial packet of the old one is void
            self._rbuf_sock, self._rbuf = sock, bytearray()
        try:
            data = self._sock_recv(READ_BYTES)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        except OSError as exc:
            log.warning("reading from the broker failed: %s", exc)
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        if not data:
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        with self._msgtime_mutex:
            self._last_bytes_received = time.monotonic()  # paho's keepalive clock
        self._rbuf += data
        try:
            packets, used = split_packets(self._rbuf)
        except WireError as exc:
            log.error("malformed packet from the broker: %s", exc)
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_PROTOCOL)
        del self._rbuf[:used]
        result = self._dispatch(sock, packets)
        if len(packets) > 1 and len(data) < READ_BYTES:
            time.sleep(READ_COALESCE_SECONDS)
        return result

    def _dispatch(self, sock: object, packets: list[tuple[int, bytes]]) -> MQTTErrorCode:
        generation = self.generation
        batch: list[Publish] = []
        for first, body in packets:
            if first & 0xF0 == PUBLISH and (first >> 1) & 0x03 < 2:
                try:
                    batch.append(parse_publish(first, body))
                except (WireError, ValueError, IndexError) as exc:  # struct.error is a ValueError
                    log.error("malformed PUBLISH from the broker: %s", exc)
                    return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_PROTOCOL)
                continue
            if batch:  # keep arrival order across packet kinds
                self._on_publishes(batch, generation)
                batch = []
            rc = self._handle_with_paho(first, body)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return self._loop_rc_handle(rc)
            if self._sock is not sock:  # paho closed the connection (DISCONNECT from the broker)
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        if batch:
            self._on_publishes(batch, generation)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_with_paho(self, first: int, body: bytes) -> MQTTErrorCode:
        self._in_packet = {
            "command": first,
            "have_remaining": 1,
            "remaining_count": [],
            "remaining_mult": 1,
            "remaining_length": len(body),
            "packet": bytearray(body),
            "to_process": 0,
            "pos": 0,
        }
        try:
            return self._packet_handle()
        except MalformedPacket as exc:
            log.error("malformed packet from the broker: %s", exc)
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
