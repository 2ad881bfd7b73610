"""Stream reassembly: bytes from a TCP connection in, complete frames and reports of skipped bytes out."""

from __future__ import annotations

from dataclasses import dataclass

from envmon.protocols.hj212.crc import crc_hex
from envmon.protocols.hj212.frame import HEADER, MAX_SEGMENT_CHARS, OVERHEAD_BYTES, TRAILER


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """A complete frame whose header, length, CRLF and CRC are right (decode it with `decode_frame`)."""

    frame: bytes


@dataclass(frozen=True, slots=True)
class BytesSkipped:
    """Bytes that are not part of a valid frame, and why they were skipped."""

    data: bytes
    reason: str


FrameEvent = FrameReceived | BytesSkipped


class _NeedMore:
    """The candidate frame at the start of the buffer is valid so far but incomplete."""


_NEED_MORE = _NeedMore()


class FrameReader:
    """Splits a byte stream into frames; never raises, and resynchronises on the next `##`.

    The buffer only ever holds one incomplete candidate frame (at most MAX_FRAME_BYTES bytes), so
    memory stays bounded whatever arrives; every byte fed comes back in exactly one event.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> bytes:
        """Bytes held back: the start of a frame that is not complete yet."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> list[FrameEvent]:
        """The frames completed and the bytes skipped by adding `data` to the stream."""
        self._buffer += data
        events: list[FrameEvent] = []
        position = 0
        while (step := self._step(position)) is not None:
            event, position = step
            events.append(event)
        del self._buffer[:position]
        return events

    def close(self) -> list[FrameEvent]:
        """End of stream: whatever is still held back is reported as skipped."""
        rest, self._buffer = bytes(self._buffer), bytearray()
        return [BytesSkipped(rest, "stream ended inside an incomplete frame")] if rest else []

    def _step(self, position: int) -> tuple[FrameEvent, int] | None:
        """The next event from `position` and the position after it, or None when more bytes are needed."""
        start = self._buffer.find(HEADER, position)
        if start < 0:
            end = self._keep_partial_header(position)
            return (self._skip(position, end, "no frame header '##'"), end) if end > position else None
        if start > position:
            return self._skip(position, start, "bytes before the frame header '##'"), start
        verdict = _check_candidate(self._buffer, start)
        if verdict is _NEED_MORE:
            return None
        if isinstance(verdict, int):
            return FrameReceived(bytes(self._buffer[start:verdict])), verdict
        end = self._next_header(start + 1)
        return self._skip(start, end, str(verdict)), end

    def _keep_partial_header(self, position: int) -> int:
        """Where skippable bytes end: a final '#' may be the first half of the next header."""
        end = len(self._buffer)
        return end - 1 if end > position and self._buffer[end - 1 : end] == b"#" else end

    def _next_header(self, position: int) -> int:
        """The position of the next `##` after a rejected candidate, or where skippable bytes end."""
        found = self._buffer.find(HEADER, position)
        return found if found >= 0 else self._keep_partial_header(position)

    def _skip(self, start: int, end: int, reason: str) -> BytesSkipped:
        """A report of the bytes in [start, end)."""
        return BytesSkipped(bytes(self._buffer[start:end]), reason)


def _check_candidate(buffer: bytearray, start: int) -> int | str | _NeedMore:
    """For the `##` at `start`: the end of a valid frame, why it is not one, or that more bytes are needed."""
    length_field = bytes(buffer[start + 2 : start + 6])
    if not length_field.isdigit() and length_field:
        return f"length field {length_field!r} is not 4 decimal digits"
    if len(length_field) < 4:
        return _NEED_MORE
    declared = int(length_field)
    if declared > MAX_SEGMENT_CHARS:
        return f"declared length {declared} exceeds the maximum of {MAX_SEGMENT_CHARS} characters"
    end = start + declared + OVERHEAD_BYTES
    # A line feed before the declared end means the frame was cut short: give up now rather than
    # wait for bytes that would belong to the next frame.
    line_end = buffer.find(b"\n", start + 6, min(end - 1, len(buffer)))
    if line_end >= 0:
        return f"line ends after {line_end - start + 1} bytes, before the declared length {declared:04d} is reached"
    if len(buffer) < end:
        return _NEED_MORE
    problem = _complete_frame_problem(bytes(buffer[start:end]))
    return end if problem is None else problem


def _complete_frame_problem(frame: bytes) -> str | None:
    """What is wrong with the CRLF or CRC of a complete candidate, or None when both are right."""
    if not frame.endswith(TRAILER):
        return f"no CRLF where the declared length ends (found {frame[-2:]!r})"
    segment, crc_field = frame[6:-6], frame[-6:-2]
    expected = crc_hex(segment)
    if crc_field.upper() != expected.encode():
        return f"CRC mismatch: frame says {crc_field.decode('ascii', 'replace').upper()}, computed {expected}"
    return None
