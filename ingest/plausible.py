"""The last check before a row reaches the database: every field fits its column and the physics.

Rows of the full decoder and of the HJ 212 gateway pass here (the fast path checks the same bounds
on its numpy columns, ingest/assemble.py). A row that fails is dropped with a sentence saying why,
and its message is quarantined for it; the other rows of the message are kept.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from envmon.catalogue import Catalogue
from envmon.columns import Row
from envmon.domain import is_flag_letter
from envmon.protocols.mqtt_json import EARLIEST, MAX_SEQ

# Quarantine reasons of the row checks, one per kind of problem.
IMPLAUSIBLE = "implausible_value"
INVALID_FLAG = "invalid_flag"
INVALID_SEQ = "invalid_seq"
INVALID_TIME = "invalid_time"
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far inside what timestamptz and numpy's int64 us can hold


class RowCheck:
    """Catalogue bounds per canonical code; `split` sorts rows into storable ones and problems."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._bounds = {p.code: catalogue.plausible_range(p.code) for p in catalogue.pollutants}

    def split(self, rows: list[Row]) -> tuple[list[Row], list[tuple[str, str]]]:
        """The rows that can be stored, and (reason, sentence) for each that cannot."""
        kept: list[Row] = []
        problems: list[tuple[str, str]] = []
        for row in rows:
            problem = self.problem(row)
            if problem is None:
                kept.append(row)
            else:
                problems.append(problem)
        return kept, problems

    def problem(self, row: Row) -> tuple[str, str] | None:
        """(reason, sentence) when the row cannot be stored, else None."""
        bounds = self._bounds.get(row.pollutant)
        if bounds is None:
            return IMPLAUSIBLE, f"{row.pollutant[:16]!r} is not a catalogue code"
        if not (isinstance(row.value, float | int) and math.isfinite(row.value)):
            return IMPLAUSIBLE, f"{row.pollutant}: value {row.value!r} is not a finite number"
        low, high = bounds
        if not low <= row.value <= high:
            reason = self._catalogue.plausible_reason(row.pollutant)
            return IMPLAUSIBLE, f"{row.pollutant}: {row.value!r} is outside [{low:g}, {high:g}] ({reason})"
        if not (isinstance(row.flag, str) and is_flag_letter(row.flag)):
            return INVALID_FLAG, f"{row.pollutant}: data flag {str(row.flag)[:8]!r} is not one ASCII letter"
        if not (isinstance(row.seq, int) and 0 <= row.seq <= MAX_SEQ):
            return INVALID_SEQ, f"{row.pollutant}: seq {str(row.seq)[:24]} is outside 0..{MAX_SEQ}"
        if row.time.tzinfo is None or not EARLIEST <= row.time < _LATEST:
            return INVALID_TIME, f"{row.pollutant}: time {row.time.isoformat()} cannot be stored"
        return None
