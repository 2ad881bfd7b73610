"""The few MQTT v5 packets the hot paths handle themselves: framing, PUBLISH, PUBACK, CONNECT.

paho-mqtt reads a packet with three or more `recv` calls (one byte of command, the length byte by
byte, then the body) and builds an `MQTTMessage` and a `Properties` object per PUBLISH; at 10,000
messages/s that costs more than everything else ingest does. Each of those `recv` calls also
releases and re-takes the GIL, which the writer thread holds most of the time. Splitting a large
read into packets here costs a few microseconds a message (see docs in ingest/mqtt_client.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PUBLISH = 0x30
PUBACK = 0x40
CONNECT = 0x10
CONNACK = 0x20
_PUBACK = struct.Struct(">BBH")
_U16 = struct.Struct(">H")


class WireError(ValueError):
    """A packet that does not follow the MQTT framing (the connection must be dropped)."""


@dataclass(frozen=True, slots=True)
class Publish:
    """One received PUBLISH: topic, payload, QoS and packet id (0 for QoS 0)."""

    topic: str
    payload: bytes
    qos: int
    mid: int


def encode_varint(value: int) -> bytes:
    """The MQTT variable byte integer (remaining length, property length)."""
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def decode_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None when the buffer ends inside the integer."""
    value = shift = 0
    for i in range(pos, min(pos + 4, len(buf))):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    if len(buf) - pos >= 4:
        raise WireError("remaining length longer than four bytes")
    return None


def split_packets(buf: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """Complete packets at the start of `buf` as (first byte, body), and how many bytes they used."""
    packets: list[tuple[int, bytes]] = []
    pos, size = 0, len(buf)
    while pos + 2 <= size:
        if not buf[pos + 1] & 0x80:  # one-byte remaining length: nearly every packet we see
            length, start = buf[pos + 1], pos + 2
        else:
            found = decode_varint(buf, pos + 1)
            if found is None:
                break
            length, start = found
        end = start + length
        if end > size:
            break
        packets.append((buf[pos], bytes(buf[start:end])))
        pos = end
    return packets, pos


def parse_publish(first: int, body: bytes, *, v5: bool = True) -> Publish:
    """A PUBLISH body (after the fixed header); properties are skipped (ingest uses none)."""
    qos = (first >> 1) & 0x03
    (topic_len,) = _U16.unpack_from(body, 0)
    pos = 2 + topic_len
    topic = body[2:pos].decode("utf-8", errors="replace")
    mid = 0
    if qos:
        (mid,) = _U16.unpack_from(body, pos)
        pos += 2
    if v5:
        found = decode_varint(body, pos)
        if found is None:
            raise WireError("PUBLISH properties cut short")
        props_len, pos = found
        pos += props_len
    if pos > len(body):
        raise WireError("PUBLISH shorter than its headers")
    return Publish(topic, body[pos:], qos, mid)


def pubacks(mids: list[int]) -> bytes:
    """PUBACKs (reason: success, no properties) for these packet ids, in this order, as one write."""
    pack = _PUBACK.pack
    return b"".join([pack(PUBACK, 2, mid) for mid in mids])


def utf8(text: str) -> bytes:
    """An MQTT UTF-8 string: two-byte length, then the bytes."""
    data = text.encode()
    return _U16.pack(len(data)) + data


def connect_packet(client_id: str, username: str, password: str, *, keepalive: int = 60) -> bytes:
    """A clean-start MQTT v5 CONNECT with username and password and no properties."""
    flags = 0x80 | 0x40 | 0x02
    body = utf8("MQTT") + bytes([5, flags]) + _U16.pack(keepalive) + b"\x00"
    body += utf8(client_id) + utf8(username) + utf8(password)
    return bytes([CONNECT]) + encode_varint(len(body)) + body


def publish_header(topic: str, qos: int = 1) -> bytes:
    """What comes between the fixed header and the packet id of a PUBLISH: the topic."""
    if qos not in (0, 1):
        raise ValueError("only QoS 0 and 1 are supported")
    return utf8(topic)


def publish_packet(topic_part: bytes, mid: int, payload: bytes) -> bytes:
    """A QoS 1 PUBLISH without properties; `topic_part` is `publish_header(topic)`."""
    length = len(topic_part) + 3 + len(payload)
    return b"".join((bytes([PUBLISH | 0x02]), encode_varint(length), topic_part, _U16.pack(mid), b"\x00", payload))


# Property identifier -> size of its value (-1: UTF-8 string or binary data, -2: string pair, 0: varint).
_PROPERTY_SIZES = {
    0x01: 1, 0x02: 4, 0x03: -1, 0x08: -1, 0x09: -1, 0x0B: 0, 0x11: 4, 0x12: -1, 0x13: 2, 0x15: -1,
    0x16: -1, 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: -1, 0x1C: -1, 0x1F: -1, 0x21: 2, 0x22: 2, 0x23: 2,
    0x24: 1, 0x25: 1, 0x26: -2, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1,
}  # fmt: skip


def connack(body: bytes) -> tuple[int, dict[int, int]]:
    """CONNACK reason code and its integer properties (e.g. 0x21, the broker's Receive Maximum)."""
    reason = body[1]
    found = decode_varint(body, 2)
    if found is None:
        raise WireError("CONNACK cut short")
    length, pos = found
    end, props = pos + length, {}
    while pos < end:
        ident = body[pos]
        size = _PROPERTY_SIZES.get(ident)
        if size is None:
            raise WireError(f"unknown CONNACK property {ident:#x}")
        pos += 1
        if size > 0:
            props[ident] = int.from_bytes(body[pos : pos + size], "big")
            pos += size
        elif size == 0:
            value = decode_varint(body, pos)
            if value is None:
                raise WireError("CONNACK property cut short")
            props[ident], pos = value
        else:
            for _ in range(-size):
                pos += 2 + _U16.unpack_from(body, pos)[0]
    return reason, props
