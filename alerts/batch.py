"""The engine's input, `ReadingColumns`: made safe to evaluate, split, described, and read from a replay CSV.

The replay CSV has the columns `time,device,pollutant,value,flag`: ISO 8601 times with an offset,
the device's MN code, values in the unit the protocol uses (µg/L for Hg, Cd, Cr(VI), As, Pb),
sorted by time. `batch_from_csv` converts to canonical units and yields one batch per simulated
step (a second by default), in time order.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from alerts.errors import AlertsError
from envmon.catalogue import Catalogue, load_catalogue
from envmon.columns import ReadingColumns, Row
from envmon.domain import FLAGS
from envmon.errors import CatalogueError

_HEADER = ["time", "device", "pollutant", "value", "flag"]


class ReplayInputError(AlertsError):
    """A replay CSV line cannot be used; the message names the line."""


# Flag bytes outside printable ASCII are unknown flags: judged abnormal as '?' (a NUL would poison the jsonb
# of the alert's events and the engine snapshot, and the engine would fail on every save after it).
_UNKNOWN_FLAG = ord("?")


def sanitize_batch(batch: ReadingColumns) -> tuple[ReadingColumns, int]:
    """The batch without rows whose value is not finite (nothing can judge them, and the engine's saved
    state must hold finite numbers only), unprintable flags as '?'; returns it and how many rows were dropped."""
    keep = np.isfinite(batch.value)
    odd_flag = (batch.flag < 0x21) | (batch.flag > 0x7E)
    if keep.all() and not odd_flag.any():
        return batch, 0
    flag = np.where(odd_flag, np.uint8(_UNKNOWN_FLAG), batch.flag).astype(np.uint8)
    return replace(batch, flag=flag).take(keep), int((~keep).sum())


def split_batch(batch: ReadingColumns) -> tuple[ReadingColumns, ReadingColumns]:
    """The first and second half of a batch's rows (to find the reading a failing evaluation trips on)."""
    half = len(batch) // 2
    return batch.take(slice(0, half)), batch.take(slice(half, len(batch)))


def describe_row(batch: ReadingColumns, row: int = 0) -> str:
    """One reading of a batch as a log line shows it (device id, pollutant, time, value, flag)."""
    code_index = int(batch.pollutant[row])
    code = batch.codes[code_index] if 0 <= code_index < len(batch.codes) else f"#{code_index}"
    return (f"device {int(batch.device_id[row])} {code} at {int(batch.time_us[row]) / 1e6:.3f}"
            f" value {float(batch.value[row])!r} flag {chr(int(batch.flag[row]))!r}")


def _parse_time(text: str, line: int) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayInputError(f"line {line}: time {text!r} is not ISO 8601") from None
    if when.tzinfo is None:
        raise ReplayInputError(f"line {line}: time {text!r} needs a UTC offset (e.g. +08:00 or Z)")
    return when.astimezone(UTC)


def _parse_line(fields: list[str], line: int, device_ids: dict[str, int], catalogue: Catalogue) -> Row:
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
    when = _parse_time(time_text, line)
    # The line number stands for the device's sequence number; a replayed reading arrives at its own time.
    return Row(when, device_ids[mn], pollutant.code, "instant", value * pollutant.protocol_factor, flag, line, when)


def read_replay_csv(
    source: Iterable[str], device_ids: dict[str, int], catalogue: Catalogue | None = None
) -> Iterator[Row]:
    """Parsed lines of a replay CSV in file order; times must not go backwards."""
    catalogue = catalogue or load_catalogue()
    reader = csv.reader(source)
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != _HEADER:
        raise ReplayInputError(f"line 1: header must be {','.join(_HEADER)}")
    last: datetime | None = None
    for fields in reader:
        if not fields:
            continue
        item = _parse_line(fields, reader.line_num, device_ids, catalogue)
        if last is not None and item.time < last:
            raise ReplayInputError(f"line {reader.line_num}: not sorted by time")
        last = item.time
        yield item


def _grouped(items: Iterable[Row], step_seconds: float) -> Iterator[list[Row]]:
    group: list[Row] = []
    for item in items:
        if group and item.time.timestamp() // step_seconds != group[0].time.timestamp() // step_seconds:
            yield group
            group = []
        group.append(item)
    if group:
        yield group


def batch_from_csv(source: Iterable[str], device_ids: dict[str, int], *, step_seconds: float = 1.0,
                   catalogue: Catalogue | None = None) -> Iterator[ReadingColumns]:
    """Batches of a replay CSV, one per `step_seconds` of simulated time, in time order.

    Call `evaluate(batch, batch_end(batch))` then `tick(...)` with the simulated clock.
    """
    for group in _grouped(read_replay_csv(source, device_ids, catalogue), step_seconds):
        yield ReadingColumns.from_rows(group)


def batch_end(batch: ReadingColumns) -> datetime:
    """The latest reading time of a non-empty batch, as the simulated `now` of a replay."""
    return datetime.fromtimestamp(int(batch.time_us.max()) / 1e6, UTC)
