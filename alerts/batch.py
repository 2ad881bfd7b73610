"""Readings into the engine's `ReadingBatch`: from ingest's committed columns, or from a replay CSV.

The replay CSV has the columns `time,device,pollutant,value,flag`: ISO 8601 times with an offset,
the device's MN code, values in the unit the protocol uses (µg/L for Hg, Cd, Cr(VI), As, Pb),
sorted by time. `batch_from_csv` converts to canonical units and yields one batch per simulated
step (a second by default), in time order.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import numpy as np

from alerts.errors import AlertsError
from alerts.model import ReadingBatch
from envmon.catalogue import Catalogue, load_catalogue
from envmon.columns import BASIS_INDEX, ReadingColumns
from envmon.domain import FLAGS
from envmon.errors import CatalogueError

_HEADER = ["time", "device", "pollutant", "value", "flag"]


class ReplayInputError(AlertsError):
    """A replay CSV line cannot be used; the message names the line."""


@dataclass(frozen=True, slots=True)
class _Item:
    time_s: float
    device_id: int
    pollutant: str
    value: float
    flag: str
    basis: str = "instant"


def _batch(items: Sequence[_Item]) -> ReadingBatch:
    codes = tuple(sorted({i.pollutant for i in items}))
    column = {c: n for n, c in enumerate(codes)}
    return ReadingBatch(
        codes=codes,
        time_s=np.fromiter((i.time_s for i in items), dtype=np.float64, count=len(items)),
        device_id=np.fromiter((i.device_id for i in items), dtype=np.int32, count=len(items)),
        pollutant=np.fromiter((column[i.pollutant] for i in items), dtype=np.int16, count=len(items)),
        value=np.fromiter((i.value for i in items), dtype=np.float64, count=len(items)),
        flag=np.fromiter((ord(i.flag) for i in items), dtype=np.uint8, count=len(items)),
        basis=np.fromiter((BASIS_INDEX[i.basis] for i in items), dtype=np.int8, count=len(items)),
    )


def batch_from_columns(columns: ReadingColumns) -> ReadingBatch:
    """The readings ingest committed (canonical units already; duplicates included) as a batch."""
    return ReadingBatch(
        codes=columns.codes,
        time_s=columns.time_us / 1e6,
        device_id=columns.device_id,
        pollutant=columns.pollutant,
        value=columns.value,
        flag=columns.flag,
        basis=columns.basis,
    )


# Flag bytes outside printable ASCII are unknown flags: judged abnormal as '?' (a NUL would poison the jsonb
# of the alert's events and the engine snapshot, and the engine would fail on every save after it).
_UNKNOWN_FLAG = ord("?")


def sanitize_batch(batch: ReadingBatch) -> tuple[ReadingBatch, int]:
    """The batch without rows whose value or time is not finite (nothing can judge them, and the engine's saved
    state must hold finite numbers only), unprintable flags as '?'; returns it and how many rows were dropped."""
    keep = np.isfinite(batch.value) & np.isfinite(batch.time_s)
    odd_flag = (batch.flag < 0x21) | (batch.flag > 0x7E)
    if keep.all() and not odd_flag.any():
        return batch, 0
    flag = np.where(odd_flag, np.uint8(_UNKNOWN_FLAG), batch.flag).astype(np.uint8)
    cleaned = ReadingBatch(codes=batch.codes, time_s=batch.time_s[keep], device_id=batch.device_id[keep],
                           pollutant=batch.pollutant[keep], value=batch.value[keep], flag=flag[keep],
                           basis=batch.basis[keep],
                           received_s=None if batch.received_s is None else batch.received_s[keep])
    return cleaned, int((~keep).sum())


def split_batch(batch: ReadingBatch) -> tuple[ReadingBatch, ReadingBatch]:
    """The first and second half of a batch's rows (to find the reading a failing evaluation trips on)."""
    half = len(batch) // 2
    return _rows(batch, slice(0, half)), _rows(batch, slice(half, len(batch)))


def _rows(batch: ReadingBatch, rows: slice) -> ReadingBatch:
    return ReadingBatch(codes=batch.codes, time_s=batch.time_s[rows], device_id=batch.device_id[rows],
                        pollutant=batch.pollutant[rows], value=batch.value[rows], flag=batch.flag[rows],
                        basis=batch.basis[rows],
                        received_s=None if batch.received_s is None else batch.received_s[rows])


def describe_row(batch: ReadingBatch, row: int = 0) -> str:
    """One reading of a batch as a log line shows it (device id, pollutant, time, value, flag)."""
    code_index = int(batch.pollutant[row])
    code = batch.codes[code_index] if 0 <= code_index < len(batch.codes) else f"#{code_index}"
    return (f"device {int(batch.device_id[row])} {code} at {float(batch.time_s[row]):.3f}"
            f" value {float(batch.value[row])!r} flag {chr(int(batch.flag[row]))!r}")


def empty_batch() -> ReadingBatch:
    """A batch with no rows."""
    return _batch([])


def _parse_time(text: str, line: int) -> float:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayInputError(f"line {line}: time {text!r} is not ISO 8601") from None
    if when.tzinfo is None:
        raise ReplayInputError(f"line {line}: time {text!r} needs a UTC offset (e.g. +08:00 or Z)")
    return when.astimezone(UTC).timestamp()


def _parse_line(fields: list[str], line: int, device_ids: dict[str, int], catalogue: Catalogue) -> _Item:
    if len(fields) != len(_HEADER):
        raise ReplayInputError(f"line {line}: expected {len(_HEADER)} columns, found {len(fields)}")
    time_text, mn, code, value_text, flag = (f.strip() for f in fields)
    if mn not in device_ids:
        raise ReplayInputError(f"line {line}: unknown device {mn!r}")
    try:
        pollutant = catalogue.get(code)
        value = float(value_text)
    except CatalogueError:
        raise ReplayInputError(f"line {line}: unknown pollutant {code!r}") from None
    except ValueError:
        raise ReplayInputError(f"line {line}: value {value_text!r} is not a number") from None
    flag = flag or "N"
    if flag not in FLAGS:
        raise ReplayInputError(f"line {line}: unknown data flag {flag!r}")
    # Devices send the protocol unit (µg/L for heavy metals); limits are canonical (mg/L).
    return _Item(_parse_time(time_text, line), device_ids[mn], pollutant.code, value * pollutant.protocol_factor, flag)


def read_replay_csv(source: TextIO, device_ids: dict[str, int], catalogue: Catalogue | None = None) -> Iterator[_Item]:
    """Parsed lines of a replay CSV in file order; times must not go backwards."""
    catalogue = catalogue or load_catalogue()
    reader = csv.reader(source)
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != _HEADER:
        raise ReplayInputError(f"line 1: header must be {','.join(_HEADER)}")
    last = -np.inf
    for fields in reader:
        if not fields:
            continue
        item = _parse_line(fields, reader.line_num, device_ids, catalogue)
        if item.time_s < last:
            raise ReplayInputError(f"line {reader.line_num}: not sorted by time")
        last = item.time_s
        yield item


def _grouped(items: Iterable[_Item], step_seconds: float) -> Iterator[list[_Item]]:
    group: list[_Item] = []
    for item in items:
        if group and item.time_s // step_seconds != group[0].time_s // step_seconds:
            yield group
            group = []
        group.append(item)
    if group:
        yield group


def batch_from_csv(source: TextIO, device_ids: dict[str, int], *, step_seconds: float = 1.0,
                   catalogue: Catalogue | None = None) -> Iterator[ReadingBatch]:
    """Batches of a replay CSV, one per `step_seconds` of simulated time, in time order.

    Call `evaluate(batch, batch_end(batch))` then `tick(...)` with the simulated clock.
    """
    for group in _grouped(read_replay_csv(source, device_ids, catalogue), step_seconds):
        yield _batch(group)


def batch_end(batch: ReadingBatch) -> datetime:
    """The latest reading time of a non-empty batch, as the simulated `now` of a replay."""
    return datetime.fromtimestamp(float(batch.time_s.max()), UTC)
