"""Queued readings into HJ 212 upload frames: one frame per device, basis and data time, in queue order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from envmon.catalogue import Catalogue
from envmon.protocols.hj212 import (
    MAX_SEGMENT_CHARS,
    Message,
    PollutantValue,
    build_cp,
    build_segment,
    encode_frame,
    format_qn,
    parse_cst,
)
from envmon.protocols.hj212.message import flag_for

# Which upload command and value field carries each basis (HJ 212-2017 CN 2011/2051/2061/2031).
CN_OF_BASIS: dict[str, str] = {"instant": "2011", "minute": "2051", "hour": "2061", "day": "2031"}
FIELD_OF_BASIS: dict[str, str] = {"instant": "Rtd", "minute": "Avg", "hour": "Avg", "day": "Avg"}
# Stored values are canonical units times the protocol factor's inverse; twelve significant digits
# undo the float noise of that division (0.0425 / 0.001 = 42.49999999999999 -> 42.5).
SIGNIFICANT_DIGITS = 12


@dataclass(frozen=True, slots=True)
class Route:
    """How one local device is known upstream."""

    device_id: int
    mn: str
    pw: str
    st: str


@dataclass(frozen=True, slots=True)
class Queued:
    """One queued reading; `qn` is set once a frame carrying it was planned (and maybe sent)."""

    id: int
    device_id: int
    time: datetime
    pollutant: str
    basis: str
    value: float
    flag: str
    qn: str | None = None


@dataclass(frozen=True, slots=True)
class OutFrame:
    """A frame to send and the queue rows it carries (deleted when the upstream answers 9014 with `qn`)."""

    qn: str
    device_id: int
    ids: tuple[int, ...]
    data: bytes


def protocol_value(reading: Queued, catalogue: Catalogue) -> PollutantValue:
    """The HJ 212 value of a stored reading: HJ 212 units, a corrected series as the measured code's Zs field."""
    field = FIELD_OF_BASIS[reading.basis]
    code = reading.pollutant
    pollutant = catalogue.get(code) if code in catalogue else None
    if pollutant is not None and pollutant.corrected_from is not None:
        code, field = pollutant.corrected_from, "Zs" + field
    factor = catalogue.get(code).protocol_factor if code in catalogue else 1.0
    value = float(f"{reading.value / factor:.{SIGNIFICANT_DIGITS}g}")
    return PollutantValue(code=code, field=field, value=value, flag=reading.flag)


def _message(route: Route, version: str, qn: str, readings: Sequence[Queued], catalogue: Catalogue) -> Message:
    """The upload message carrying `readings` (one device, basis and time) under the upstream MN and PW."""
    first = readings[0]
    cp = build_cp(first.time, [protocol_value(r, catalogue) for r in readings])
    return Message(st=route.st, cn=CN_OF_BASIS[first.basis], mn=route.mn, cp=cp, qn=qn, pw=route.pw,
                   flag=flag_for(version, wants_reply=True))


def _fits(route: Route, version: str, readings: Sequence[Queued], catalogue: Catalogue) -> bool:
    """Whether one frame can carry these readings (data segment at most 1024 characters)."""
    qn = "0" * 17
    return len(build_segment(_message(route, version, qn, readings, catalogue))) <= MAX_SEGMENT_CHARS


def _chunks(route: Route, version: str, readings: list[Queued], catalogue: Catalogue) -> list[list[Queued]]:
    """The readings of one data time cut into as few frames as fit, keeping their order."""
    chunks: list[list[Queued]] = []
    for reading in readings:
        if chunks and _fits(route, version, [*chunks[-1], reading], catalogue):
            chunks[-1].append(reading)
        else:
            chunks.append([reading])
    return chunks


def frame_of(route: Route, version: str, qn: str, readings: Sequence[Queued], catalogue: Catalogue) -> OutFrame:
    """The frame for readings that share a QN (device, basis and data time)."""
    data = encode_frame(build_segment(_message(route, version, qn, readings, catalogue)))
    return OutFrame(qn=qn, device_id=route.device_id, ids=tuple(r.id for r in readings), data=data)


def plan_frames(
    rows: Sequence[Queued], routes: dict[int, Route], version: str, catalogue: Catalogue, next_qn: Callable[[], str]
) -> list[OutFrame]:
    """New frames for rows without a QN: grouped by device, basis and data time, ordered by their first row.

    Rows of a device that has no route any more are left out (they stay queued; status shows them).
    """
    groups: dict[tuple[int, str, datetime], list[Queued]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.device_id in routes:
            groups.setdefault((row.device_id, row.basis, row.time), []).append(row)
    frames: list[OutFrame] = []
    for (device_id, _, _), readings in groups.items():
        route = routes[device_id]
        frames.extend(frame_of(route, version, next_qn(), chunk, catalogue)
                      for chunk in _chunks(route, version, readings, catalogue))
    return frames


def resend_frames(
    rows: Sequence[Queued], routes: dict[int, Route], version: str, catalogue: Catalogue
) -> list[OutFrame]:
    """The frames of rows that already carry a QN, rebuilt with the same QN, in the order of their first row."""
    groups: dict[str, list[Queued]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.qn is not None and row.device_id in routes:
            groups.setdefault(row.qn, []).append(row)
    return [frame_of(routes[rs[0].device_id], version, qn, rs, catalogue) for qn, rs in groups.items()]


class QnClock:
    """QNs (YYYYMMDDhhmmsszzz, CST) that only go forward: a QN already used is never handed out again."""

    def __init__(self, now: Callable[[], datetime], last: str = "") -> None:
        self._now, self._last = now, last

    def __call__(self) -> str:
        """The next QN: the current time's, or one millisecond after the last when the clock has not moved on."""
        qn = format_qn(self._now())
        if qn <= self._last:
            qn = format_qn(parse_cst(self._last, "QN") + timedelta(milliseconds=1))
        self._last = qn
        return qn
