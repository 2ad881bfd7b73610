"""MQTT framing used by ingest's fast read path: varints, packet splitting, PUBLISH parsing, PUBACKs."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envmon.protocols.mqtt_wire import (
    PUBLISH,
    WireError,
    decode_varint,
    encode_varint,
    parse_publish,
    pubacks,
    publish_header,
    publish_packet,
    split_packets,
)


@given(st.integers(min_value=0, max_value=268_435_455))
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded, 0) == (value, len(encoded))
    assert decode_varint(encoded[:-1], 0) is None


@pytest.mark.parametrize(
    ("value", "encoded"), [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f")]
)
def test_varint_examples_from_the_spec(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded


def test_overlong_varint_is_a_wire_error() -> None:
    with pytest.raises(WireError):
        decode_varint(b"\xff\xff\xff\xff\x01", 0)


def _packets(n: int) -> bytes:
    topic = publish_header("envmon/v1/D1/up")
    return b"".join(
        publish_packet(topic, mid, b'{"seq": %d}' % mid + b"x" * (mid * 37 % 300)) for mid in range(1, n + 1)
    )


@given(st.lists(st.integers(min_value=1, max_value=400), max_size=30))
def test_split_packets_at_any_cut_gives_every_packet_once(cuts: list[int]) -> None:
    stream = _packets(12)
    buf, got, pos = bytearray(), [], 0
    for size in [*cuts, len(stream)]:
        buf += stream[pos : pos + size]
        pos += size
        packets, used = split_packets(buf)
        del buf[:used]
        got += packets
    assert buf == bytearray()
    assert [parse_publish(first, body).mid for first, body in got] == list(range(1, 13))


def test_parse_publish_v5_skips_properties_and_reads_qos0_and_qos1() -> None:
    topic = b"\x00\x0benvmon/v1/x"
    props = b"\x02\x01\x01"  # property length 2: payload format indicator = 1 (UTF-8)
    qos1 = parse_publish(PUBLISH | 0x02, topic + struct.pack(">H", 513) + props + b"hello")
    assert (qos1.topic, qos1.qos, qos1.mid, qos1.payload) == ("envmon/v1/x", 1, 513, b"hello")
    qos0 = parse_publish(PUBLISH, topic + b"\x00" + b"body")
    assert (qos0.qos, qos0.mid, qos0.payload) == (0, 0, b"body")


def test_truncated_publish_is_refused() -> None:
    with pytest.raises((WireError, struct.error)):
        parse_publish(PUBLISH | 0x02, b"\x00\x20short")


def test_pubacks_are_one_write_in_order() -> None:
    assert pubacks([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"
