"""Framing: `##` + 4-digit length + data segment + 4 hex CRC digits + CRLF, both ways."""

from __future__ import annotations

import re

from envmon.protocols.hj212.crc import crc_hex
from envmon.protocols.hj212.errors import CrcError, FrameError

HEADER = b"##"
TRAILER = b"\r\n"
MAX_SEGMENT_CHARS = 1024
# `##` (2) + length (4) + CRC (4) + CRLF (2) around the data segment.
OVERHEAD_BYTES = 12
MAX_FRAME_BYTES = MAX_SEGMENT_CHARS + OVERHEAD_BYTES
_LENGTH = re.compile(rb"[0-9]{4}")
_CRC = re.compile(rb"[0-9A-Fa-f]{4}")
_LINE_BREAK = re.compile(rb"[\r\n]")


def encode_frame(segment: str) -> bytes:
    """The frame that carries `segment` (ASCII, at most 1024 characters)."""
    if not segment.isascii():
        raise FrameError("data segment contains non-ASCII characters; HJ 212 frames are ASCII")
    if len(segment) > MAX_SEGMENT_CHARS:
        raise FrameError(f"data segment is {len(segment)} characters, the maximum is {MAX_SEGMENT_CHARS}")
    if "\r" in segment or "\n" in segment:
        raise FrameError("data segment contains a line break")
    data = segment.encode("ascii")
    return HEADER + f"{len(data):04d}".encode() + data + crc_hex(data).encode() + TRAILER


def decode_frame(frame: bytes) -> str:
    """The data segment of a complete frame, after checking header, length, CRC and CRLF."""
    _check_envelope(frame)
    declared = _declared_length(frame)
    segment = frame[6:-6]
    _check_length(declared, len(segment))
    if line_break := _LINE_BREAK.search(segment):
        raise FrameError(f"data segment contains a line break at position {6 + line_break.start()}")
    _check_crc(segment, frame[-6:-2])
    return segment.decode("ascii")


def _check_envelope(frame: bytes) -> None:
    """Frame-wide checks: ASCII only, minimum size, `##` at the start, CRLF at the end."""
    if not frame.isascii():
        position = next(i for i, byte in enumerate(frame) if byte > 0x7F)
        raise FrameError(f"frame contains non-ASCII byte 0x{frame[position]:02X} at position {position}")
    if not frame.startswith(HEADER):
        raise FrameError(f"frame does not start with '##' (starts with {frame[:2]!r})")
    if not frame.endswith(TRAILER):
        raise FrameError(f"frame does not end with CRLF (\\r\\n); it ends with {frame[-4:]!r}")
    if len(frame) < OVERHEAD_BYTES:
        raise FrameError(f"frame is {len(frame)} bytes, shorter than the {OVERHEAD_BYTES} of an empty frame")


def _declared_length(frame: bytes) -> int:
    """The length field after `##`, which must be 4 decimal digits."""
    field = frame[2:6]
    if not _LENGTH.fullmatch(field):
        raise FrameError(f"length field {field.decode('ascii')!r} is not 4 decimal digits")
    return int(field)


def _check_length(declared: int, actual: int) -> None:
    """The declared length must be within the maximum and match the data segment."""
    if actual > MAX_SEGMENT_CHARS:
        raise FrameError(f"frame too long: data segment is {actual} characters, the maximum is {MAX_SEGMENT_CHARS}")
    if declared > MAX_SEGMENT_CHARS:
        raise FrameError(f"frame too long: header says {declared:04d} characters, the maximum is {MAX_SEGMENT_CHARS}")
    if declared != actual:
        raise FrameError(f"length mismatch: header says {declared:04d}, data segment is {actual:04d} characters")


def _check_crc(segment: bytes, field: bytes) -> None:
    """The CRC field must be 4 hex digits (either case) equal to the segment's CRC."""
    if not _CRC.fullmatch(field):
        raise FrameError(f"CRC field {field.decode('ascii')!r} is not 4 hex digits")
    expected = crc_hex(segment)
    if field.decode("ascii").upper() != expected:
        raise CrcError(expected=expected, found=field.decode("ascii").upper())
