"""Missing minute and hour data from HJ 212 loggers: which interval to ask them to resend.

Pure logic: `observe(device, basis, data_time)` returns the (begin, end) window of intervals that
were skipped between the last data time seen and this one, or None. Windows longer than
`max_window` are not requested (a logger offline for weeks is a device fault, not a resend).
"""

from __future__ import annotations

from datetime import datetime, timedelta

STEPS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}
HISTORY_CN = {"minute": "2051", "hour": "2061"}


class HistoryTracker:
    """The latest data time per logger and basis, and the gaps behind it."""

    def __init__(self, max_window: timedelta = timedelta(days=2)) -> None:
        self._last: dict[tuple[str, str], datetime] = {}
        self._max_window = max_window

    def observe(self, device: str, basis: str, data_time: datetime) -> tuple[datetime, datetime] | None:
        """Record a data time; the skipped window (inclusive begin and end) when there is one."""
        step = STEPS.get(basis)
        if step is None:
            return None
        key = (device, basis)
        last = self._last.get(key)
        if last is None or data_time > last:
            self._last[key] = data_time
        if last is None or data_time - last <= step:
            return None
        begin, end = last + step, data_time - step
        return (begin, end) if end - begin <= self._max_window else None
