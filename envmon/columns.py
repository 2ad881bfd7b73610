"""Readings as parallel numpy arrays: how a batch travels from ingest's decoder to the database and on
to the batch's subscribers (the alert engine, the batch bus, the gap monitor).

One element per reading. The readings of one sample (one device, sequence number, time and arrival)
are adjacent, so per-sample work looks at `sample_starts()` only. Ingest builds these arrays while it
decodes a batch, writes them with one binary COPY and hands the same arrays on: no stage makes a
Python object per reading (at 100,000 readings/s that cost more than the database's work).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from envmon.domain import BASES

BASIS_INDEX: dict[str, int] = {b: i for i, b in enumerate(BASES)}
UNIX_EPOCH_US_IN_PG = 946_684_800_000_000  # PostgreSQL counts timestamps from 2000-01-01


class Row(NamedTuple):
    """One reading in `readings` column order: the row form of `ReadingColumns`, for readings that come one
    by one (an HJ 212 frame, a stored reading read back, a replay line, a test) rather than in a decoded batch."""

    time: datetime
    device_id: int
    pollutant: str
    basis: str
    value: float
    flag: str
    seq: int
    received_at: datetime


def datetime_us(t: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, exactly."""
    return round(t.timestamp() * 1_000_000)


@dataclass(frozen=True, slots=True)
class ReadingColumns:
    """A batch of readings, one array element each.

    codes: the pollutant codes `pollutant` indexes; time_us / received_us: sample time and arrival,
    microseconds since the Unix epoch (UTC); basis: index into BASES; value: canonical unit;
    flag: the HJ 212 flag letter as a byte (ord('N') ...); seq: the device's sequence number.
    """

    codes: tuple[str, ...]
    time_us: npt.NDArray[np.int64]
    device_id: npt.NDArray[np.int32]
    pollutant: npt.NDArray[np.int16]
    basis: npt.NDArray[np.int8]
    value: npt.NDArray[np.float64]
    flag: npt.NDArray[np.uint8]
    seq: npt.NDArray[np.int64]
    received_us: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.time_us.shape[0])

    @classmethod
    def empty(cls) -> ReadingColumns:
        """A batch with no readings."""
        return _from_lists((), [], [], [], [], [], [], [], [])

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]]) -> ReadingColumns:
        """Rows of (time, device_id, pollutant, basis, value, flag, seq, received_at), as `readings`
        orders its columns; for the few readings that arrive one by one (HJ 212 loggers, tests)."""
        rows = list(rows)
        codes = tuple(sorted({r[2] for r in rows}))
        index = {c: n for n, c in enumerate(codes)}
        return _from_lists(
            codes,
            [datetime_us(r[0]) for r in rows],
            [r[1] for r in rows],
            [index[r[2]] for r in rows],
            [BASIS_INDEX[r[3]] for r in rows],
            [r[4] for r in rows],
            [ord(r[5]) for r in rows],
            [r[6] for r in rows],
            [datetime_us(r[7]) for r in rows],
        )

    def take(self, index: npt.NDArray[Any] | slice) -> ReadingColumns:
        """The readings at these positions (an index array, a boolean mask or a slice), same codes."""
        return ReadingColumns(
            self.codes,
            self.time_us[index],
            self.device_id[index],
            self.pollutant[index],
            self.basis[index],
            self.value[index],
            self.flag[index],
            self.seq[index],
            self.received_us[index],
        )

    def sample_starts(self) -> npt.NDArray[np.intp]:
        """Positions of the first reading of each sample (where device, seq, time, arrival or basis
        change from the reading before)."""
        n = len(self)
        if n == 0:
            return np.zeros(0, dtype=np.intp)
        change = np.empty(n, dtype=bool)
        change[0] = True
        change[1:] = (
            (self.device_id[1:] != self.device_id[:-1])
            | (self.seq[1:] != self.seq[:-1])
            | (self.time_us[1:] != self.time_us[:-1])
            | (self.received_us[1:] != self.received_us[:-1])
            | (self.basis[1:] != self.basis[:-1])
        )
        return np.flatnonzero(change)

    def code_of(self, position: int) -> str:
        """The pollutant code of one reading."""
        return self.codes[int(self.pollutant[position])]


def concat_columns(parts: Sequence[ReadingColumns]) -> ReadingColumns:
    """One batch of these batches' readings, in order, with one codes table."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return ReadingColumns.empty()
    if len(parts) == 1:
        return parts[0]
    codes = tuple(sorted({c for p in parts for c in p.codes}))
    index = {c: n for n, c in enumerate(codes)}
    pollutants = [np.array([index[c] for c in p.codes], dtype=np.int16)[p.pollutant] for p in parts]
    return ReadingColumns(
        codes,
        np.concatenate([p.time_us for p in parts]),
        np.concatenate([p.device_id for p in parts]),
        np.concatenate(pollutants),
        np.concatenate([p.basis for p in parts]),
        np.concatenate([p.value for p in parts]),
        np.concatenate([p.flag for p in parts]),
        np.concatenate([p.seq for p in parts]),
        np.concatenate([p.received_us for p in parts]),
    )


def _from_lists(
    codes: tuple[str, ...],
    time_us: Sequence[int],
    device_id: Sequence[int],
    pollutant: Sequence[int],
    basis: Sequence[int],
    value: Sequence[float],
    flag: Sequence[int],
    seq: Sequence[int],
    received_us: Sequence[int],
) -> ReadingColumns:
    return ReadingColumns(
        codes,
        np.array(time_us, dtype=np.int64),
        np.array(device_id, dtype=np.int32),
        np.array(pollutant, dtype=np.int16),
        np.array(basis, dtype=np.int8),
        np.array(value, dtype=np.float64),
        np.array(flag, dtype=np.uint8),
        np.array(seq, dtype=np.int64),
        np.array(received_us, dtype=np.int64),
    )
