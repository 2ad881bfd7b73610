"""Counters of a simulator run, the live progress line and the summary at the end."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Stats:
    """What the simulator did; updated from the event loop and from paho's threads."""

    devices: int = 0
    messages: int = 0
    readings: int = 0
    errors: int = 0
    acked: int = 0
    resent: int = 0
    malformed: int = 0
    held: int = 0
    stored: int = 0
    lost: int = 0
    offline_periods: int = 0
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, **amounts: int) -> None:
        """Add to named counters (thread-safe)."""
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, float]:
        """The counters and the seconds since the start."""
        with self._lock:
            names = ("devices", "messages", "readings", "errors", "acked", "resent", "malformed", "held", "stored",
                     "lost", "offline_periods")
            values: dict[str, float] = {n: getattr(self, n) for n in names}
        values["seconds"] = round(time.monotonic() - self.started, 3)
        return values


class Progress:
    """Turns successive snapshots into rates for the live line."""

    def __init__(self, stats: Stats) -> None:
        self._stats = stats
        self._last = stats.snapshot()

    def line(self, sim_time: str = "") -> str:
        """`devices 208  messages/s 43.0  readings/s 171.2  errors 0  sim <time>`."""
        now = self._stats.snapshot()
        span = max(1e-9, now["seconds"] - self._last["seconds"])
        msg_rate = (now["messages"] - self._last["messages"]) / span
        reading_rate = (now["readings"] - self._last["readings"]) / span
        self._last = now
        tail = f"  sim {sim_time}" if sim_time else ""
        return (
            f"devices {now['devices']:.0f}  messages/s {msg_rate:,.1f}  readings/s {reading_rate:,.1f}  "
            f"errors {now['errors']:.0f}{tail}"
        )


def summary_lines(stats: Stats) -> list[str]:
    """The summary printed at the end of a run."""
    s = stats.snapshot()
    seconds = max(s["seconds"], 1e-9)
    return [
        f"simulated {s['devices']:.0f} devices for {s['seconds']:.1f} s",
        f"  messages  {s['messages']:,.0f} ({s['messages'] / seconds:,.1f}/s), readings {s['readings']:,.0f} "
        f"({s['readings'] / seconds:,.1f}/s)",
        f"  HJ 212 replies {s['acked']:,.0f}, resent on request {s['resent']:,.0f}, malformed sent "
        f"{s['malformed']:,.0f}",
        f"  held back {s['held']:,.0f}, stored during outages {s['stored']:,.0f}, lost for good {s['lost']:,.0f}, "
        f"offline periods {s['offline_periods']:,.0f}, "
        f"errors {s['errors']:,.0f}",
    ]
