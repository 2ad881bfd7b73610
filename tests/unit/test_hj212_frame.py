"""Framing: `##`, length, data segment, CRC, CRLF; every bad frame fails with its own message."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envmon.protocols.hj212.errors import CrcError, FrameError
from envmon.protocols.hj212.frame import MAX_SEGMENT_CHARS, decode_frame, encode_frame

SEGMENT = "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
GOLDEN = f"##0101{SEGMENT}1C80\r\n".encode()

# Data segments as loggers send them: printable ASCII, no line breaks.
segments = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=MAX_SEGMENT_CHARS)


def test_golden_frame_decodes_to_its_data_segment() -> None:
    assert decode_frame(GOLDEN) == SEGMENT


def test_encoding_the_golden_segment_gives_the_golden_frame() -> None:
    assert encode_frame(SEGMENT) == GOLDEN


def test_lowercase_crc_is_accepted() -> None:
    assert decode_frame(GOLDEN.replace(b"1C80\r\n", b"1c80\r\n")) == SEGMENT


def test_segment_of_exactly_the_maximum_length_round_trips() -> None:
    segment = "x" * MAX_SEGMENT_CHARS
    frame = encode_frame(segment)
    assert frame.startswith(b"##1024")
    assert decode_frame(frame) == segment


def _long_frame() -> bytes:
    body = b"x" * 1025
    return b"##1025" + body + b"0000\r\n"


@pytest.mark.parametrize(
    ("frame", "error", "message"),
    [
        pytest.param(b"#*0101" + GOLDEN[6:], FrameError, "does not start with '##'", id="bad-header"),
        pytest.param(b"0101" + GOLDEN[6:], FrameError, "does not start with '##'", id="no-header"),
        pytest.param(GOLDEN.replace(b"##0101", b"##01a1"), FrameError, "length field '01a1' is not 4 decimal digits", id="length-not-digits"),
        pytest.param(GOLDEN.replace(b"##0101", b"##0100"), FrameError, "length mismatch: header says 0100, data segment is 0101", id="length-too-small"),
        pytest.param(GOLDEN.replace(b"##0101", b"##0102"), FrameError, "length mismatch: header says 0102, data segment is 0101", id="length-too-big"),
        pytest.param(GOLDEN.replace(b"1C80\r\n", b"1C81\r\n"), CrcError, "CRC mismatch: frame says 1C81, computed 1C80", id="crc-mismatch"),
        pytest.param(GOLDEN.replace(b"1C80\r\n", b"0759\r\n"), CrcError, "CRC mismatch: frame says 0759, computed 1C80", id="modbus-crc"),
        pytest.param(GOLDEN.replace(b"1C80\r\n", b"1CZ0\r\n"), FrameError, "CRC field '1CZ0' is not 4 hex digits", id="crc-not-hex"),
        pytest.param(GOLDEN[:-2], FrameError, "does not end with CRLF", id="missing-crlf"),
        pytest.param(GOLDEN[:-2] + b"\n", FrameError, "does not end with CRLF", id="lf-only"),
        pytest.param(GOLDEN[:-1], FrameError, "does not end with CRLF", id="cr-only"),
        pytest.param(_long_frame(), FrameError, "frame too long: data segment is 1025 characters", id="too-long"),
        pytest.param(b"##9999" + GOLDEN[6:], FrameError, "frame too long: header says 9999 characters, the maximum is 1024", id="length-header-too-big"),
        pytest.param(GOLDEN.replace(b"PW=100000", "PW=1000é".encode()), FrameError, "non-ASCII byte 0xC3 at position", id="non-ascii"),
        pytest.param(encode_frame("ab").replace(b"ab", b"a\n"), FrameError, "line break at position 7", id="line-break-inside"),
        pytest.param(b"##\r\n", FrameError, "shorter than the 12 of an empty frame", id="too-short"),
        pytest.param(b"", FrameError, "does not start with '##'", id="empty"),
    ],
)
def test_bad_frames_fail_with_a_specific_error(frame: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        decode_frame(frame)
    assert caught.type is error
    assert message in str(caught.value)


def test_crc_error_carries_expected_and_found() -> None:
    with pytest.raises(CrcError) as caught:
        decode_frame(GOLDEN.replace(b"1C80\r\n", b"1c81\r\n"))
    assert (caught.value.expected, caught.value.found) == ("1C80", "1C81")


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        pytest.param("x" * (MAX_SEGMENT_CHARS + 1), "1025 characters, the maximum is 1024", id="too-long"),
        pytest.param("MN=设备", "non-ASCII", id="non-ascii"),
        pytest.param("a\r\nb", "line break", id="line-break"),
    ],
)
def test_encoding_refuses_what_a_frame_cannot_carry(segment: str, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        encode_frame(segment)


@settings(max_examples=100, deadline=None)
@given(segments)
def test_any_printable_segment_round_trips(segment: str) -> None:
    frame = encode_frame(segment)
    assert len(frame) == len(segment) + 12
    assert decode_frame(frame) == segment
