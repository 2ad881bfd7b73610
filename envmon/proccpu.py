"""CPU time of groups of processes, read from /proc: where a benchmark's time goes, by component."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first); None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process (all its threads); 0 when it is gone."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS if fields else 0.0


def is_alive(pid: int) -> bool:
    """True while the process exists and has not exited (a zombie waiting to be reaped counts as gone)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children_of(parent: int) -> list[int]:
    """The running processes whose parent is `parent` (PostgreSQL's backends of a postmaster)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(entry)) and int(fields[1]) == parent:
            found.append(int(entry))
    return found


class CpuMeter:
    """CPU seconds per named group of processes between `start` and `stop`.

    Each group is a callable returning its pids, asked at both ends, so processes that come and go
    (database backends) are counted while they live; a process that ends in between is not counted.
    """

    def __init__(self, groups: Mapping[str, Callable[[], Iterable[int]]]) -> None:
        self._groups = groups
        self._start: dict[int, float] = {}
        self._wall = 0.0

    def _pids(self) -> dict[str, list[int]]:
        return {name: list(pids()) for name, pids in self._groups.items()}

    def start(self, now: float) -> None:
        """Take the starting CPU times (`now`: a wall clock, as `stop` gets)."""
        self._wall = now
        self._start = {pid: cpu_seconds(pid) for pids in self._pids().values() for pid in pids}

    def stop(self, now: float) -> dict[str, float]:
        """Percent of one core each group used since `start`."""
        wall = max(now - self._wall, 1e-9)
        return {
            name: round(sum(cpu_seconds(pid) - self._start.get(pid, 0.0) for pid in pids) / wall * 100, 1)
            for name, pids in self._pids().items()
        }
