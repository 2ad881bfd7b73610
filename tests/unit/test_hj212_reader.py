"""FrameReader: frames out of a TCP byte stream, whatever the reads, garbage and truncations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envmon.protocols.hj212.frame import MAX_FRAME_BYTES, decode_frame, encode_frame
from envmon.protocols.hj212.reader import BytesSkipped, FrameEvent, FrameReader, FrameReceived

GOLDEN = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&RtdInterval=30&&1C80\r\n"
)
OTHER = encode_frame("QN=20260520103000123;ST=32;CN=2011;PW=123456;MN=310120EP001W01;Flag=5;CP=&&DataTime=20260520103000;w01018-Rtd=42.5,w01018-Flag=N&&")


def frames_of(events: list[FrameEvent]) -> list[bytes]:
    return [e.frame for e in events if isinstance(e, FrameReceived)]


def skipped_of(events: list[FrameEvent]) -> list[BytesSkipped]:
    return [e for e in events if isinstance(e, BytesSkipped)]


def test_one_frame_in_one_read() -> None:
    assert FrameReader().feed(GOLDEN) == [FrameReceived(GOLDEN)]


def test_several_frames_in_one_read() -> None:
    assert frames_of(FrameReader().feed(GOLDEN + OTHER + GOLDEN)) == [GOLDEN, OTHER, GOLDEN]


def test_frame_fed_byte_by_byte() -> None:
    reader = FrameReader()
    events = [event for byte in GOLDEN + OTHER for event in reader.feed(bytes([byte]))]
    assert events == [FrameReceived(GOLDEN), FrameReceived(OTHER)]
    assert reader.pending == b""


def test_frame_split_across_two_reads() -> None:
    reader = FrameReader()
    assert reader.feed(GOLDEN[:50]) == []
    assert reader.pending == GOLDEN[:50]
    assert reader.feed(GOLDEN[50:]) == [FrameReceived(GOLDEN)]


def test_garbage_between_frames_is_reported_and_skipped() -> None:
    events = FrameReader().feed(b"noise" + GOLDEN + b"\x00\xff junk" + OTHER)
    assert events == [
        BytesSkipped(b"noise", "bytes before the frame header '##'"),
        FrameReceived(GOLDEN),
        BytesSkipped(b"\x00\xff junk", "bytes before the frame header '##'"),
        FrameReceived(OTHER),
    ]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param(b"##01a1QN=1;CP=&&&&ABCD\r\n", "length field b'01a1' is not 4 decimal digits", id="length-not-digits"),
        pytest.param(b"##2000" + b"x" * 20, "declared length 2000 exceeds the maximum of 1024", id="too-long"),
        pytest.param(GOLDEN[:-2], "no CRLF where the declared length ends", id="missing-crlf"),
        pytest.param(GOLDEN[:60] + b"\r\n", "line ends after 62 bytes, before the declared length 0101", id="cut-short"),
        pytest.param(GOLDEN.replace(b"1C80", b"1C81"), "CRC mismatch: frame says 1C81, computed 1C80", id="crc-mismatch"),
        pytest.param(GOLDEN.replace(b"##0101", b"##0100"), "no CRLF where the declared length ends", id="length-mismatch"),
    ],
)
def test_bad_frame_is_skipped_with_its_reason_and_the_next_frame_is_read(bad: bytes, reason: str) -> None:
    events = FrameReader().feed(bad + OTHER)
    assert frames_of(events) == [OTHER]
    assert b"".join(e.data for e in skipped_of(events)) == bad
    assert reason in skipped_of(events)[0].reason


def test_bad_frame_without_a_following_frame_needs_no_more_data() -> None:
    """A cut-short frame is given up at its line end, so a logger waiting for a reply is not stalled."""
    reader = FrameReader()
    events = reader.feed(GOLDEN[:60] + b"\r\n")
    assert [e.reason for e in skipped_of(events)] == ["line ends after 62 bytes, before the declared length 0101 is reached"]
    assert reader.pending == b""


def test_lowercase_crc_frames_are_delivered() -> None:
    lower = GOLDEN.replace(b"1C80", b"1c80")
    assert FrameReader().feed(lower) == [FrameReceived(lower)]


def test_extra_hash_before_a_frame_does_not_hide_it() -> None:
    assert frames_of(FrameReader().feed(b"###" + GOLDEN)) == [GOLDEN]


def test_trailing_hash_is_held_back_as_a_possible_header() -> None:
    reader = FrameReader()
    assert reader.feed(b"abc#") == [BytesSkipped(b"abc", "no frame header '##'")]
    assert reader.pending == b"#"
    assert frames_of(reader.feed(GOLDEN[1:])) == [GOLDEN]


def test_close_reports_an_incomplete_frame() -> None:
    reader = FrameReader()
    reader.feed(GOLDEN[:40])
    assert reader.close() == [BytesSkipped(GOLDEN[:40], "stream ended inside an incomplete frame")]
    assert reader.close() == []


def test_buffer_stays_bounded_whatever_arrives() -> None:
    reader = FrameReader()
    events = reader.feed(b"x" * 200_000 + b"##1000" + b"y" * 1500)
    assert len(reader.pending) <= MAX_FRAME_BYTES
    assert sum(len(e.data) for e in skipped_of(events)) + len(reader.pending) == 200_000 + 1506


def test_delivered_frames_decode() -> None:
    for frame in frames_of(FrameReader().feed(GOLDEN + OTHER)):
        decode_frame(frame)


def _feed_in_chunks(data: bytes, cuts: list[int]) -> tuple[FrameReader, list[FrameEvent]]:
    reader = FrameReader()
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    events = [event for a, b in zip(bounds, bounds[1:], strict=False) for event in reader.feed(data[a:b])]
    return reader, events


def _event_bytes(event: FrameEvent) -> bytes:
    return event.frame if isinstance(event, FrameReceived) else event.data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(min_value=0), max_size=30))
def test_random_bytes_never_crash_and_every_byte_is_accounted_for(data: bytes, cuts: list[int]) -> None:
    reader, events = _feed_in_chunks(data, cuts)
    assert len(reader.pending) <= MAX_FRAME_BYTES
    events += reader.close()
    assert b"".join(_event_bytes(e) for e in events) == data


_segments = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)
# Garbage may hold '#', digits, CR and any byte except a line feed: a line feed could end a
# garbage "frame" whose CRC happens to be right, which no reader can tell from a real one.
_garbage = st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")) | st.sampled_from(
    [b"#", b"##", b"##01", b"##0050", b"##1024", b"##9999", b"\r", b"###"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_garbage, _segments), max_size=8), _garbage, st.lists(st.integers(min_value=0), max_size=40))
def test_every_valid_frame_in_a_noisy_stream_is_recovered_once(
    parts: list[tuple[bytes, str]], tail: bytes, cuts: list[int]
) -> None:
    frames = [encode_frame(segment) for _, segment in parts]
    stream = b"".join(garbage + frame for (garbage, _), frame in zip(parts, frames, strict=True)) + tail
    reader, events = _feed_in_chunks(stream, cuts)
    assert frames_of(events) == frames
    assert b"".join(_event_bytes(e) for e in events + reader.close()) == stream
