"""A lean MQTT v5 QoS 1 publisher on a plain socket, for load: the benchmarks and the simulator's load mode."""

from __future__ import annotations

import contextlib
import socket
import threading

from envmon.protocols.mqtt_wire import CONNACK, PUBACK, connack, connect_packet, split_packets


class WirePublisher:
    """A lean MQTT v5 QoS 1 publisher on a plain socket: CONNECT, pipelined PUBLISH within the
    broker's Receive Maximum, PUBACKs counted by a reader thread. paho's publish path costs about
    100 us a message, which on a 2-core machine would take a core from the system under test."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(connect_packet("", user, password))
        self._buf = bytearray()
        first, body = self._read_packet()
        reason, props = connack(body) if first == CONNACK else (-1, {})
        if reason != 0:
            raise RuntimeError(f"broker refused the publisher: {first:#x} reason {reason}")
        self.window = props.get(0x21, 65535)  # the broker's Receive Maximum
        self.acked = self.refused = 0
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _read_packet(self) -> tuple[int, bytes]:
        """The first packet the broker sends (the CONNACK; nothing else comes before we publish)."""
        while True:
            packets, used = split_packets(self._buf)
            if packets:
                del self._buf[:used]
                return packets[0]
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("broker closed the connection")
            self._buf += data

    def _read_acks(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            self._buf += data
            packets, used = split_packets(self._buf)
            del self._buf[:used]
            for first, body in packets:
                if first == PUBACK:
                    self.acked += 1
                    self.refused += len(body) > 2 and body[2] >= 0x80

    def send(self, packets: list[bytes]) -> None:
        self._sock.sendall(b"".join(packets))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT, normal
        self._sock.close()
        self._reader.join(5)
