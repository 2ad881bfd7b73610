"""Committed batches waiting for the engine thread: the priority lane's go first.

Ingest marks the batches of life-safety devices (gas detectors; ingest/lane.py) and hands them over
ahead of the analysers' backlog; here they are taken before any backlog batch queued earlier. Each
device rides one lane, so the engine still sees each series in time order. Both queues are bounded: a
full one blocks whoever puts into it (backpressure to ingest or to the bus), the other stays open.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from envmon.columns import ReadingColumns

# A queued batch: the readings, the bus acknowledgement (None in-process), when it was queued (monotonic).
Queued = tuple[ReadingColumns, Callable[[], None] | None, float]
_BACKLOG, _LANE = 0, 1


class Intake:
    """Two bounded first-in first-out queues of batches; `get` takes the lane's first."""

    def __init__(self, max_batches: int) -> None:
        self._queues: tuple[deque[Queued], deque[Queued]] = (deque(), deque())
        self._max = max_batches
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._space = threading.Condition(self._lock)

    def put(self, item: Queued, *, lane: bool = False) -> None:
        """Queue a batch; blocks while its queue is full."""
        queue = self._queues[_LANE if lane else _BACKLOG]
        with self._lock:
            while len(queue) >= self._max:
                self._space.wait()
            queue.append(item)
            self._ready.notify()

    def get(self, timeout: float) -> Queued | None:
        """The oldest lane batch, else the oldest backlog batch; None when none came within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (self._queues[_LANE] or self._queues[_BACKLOG]):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._ready.wait(remaining)
            item = (self._queues[_LANE] or self._queues[_BACKLOG]).popleft()
            self._space.notify_all()
            return item

    def lane_waiting(self) -> bool:
        """True while a priority lane batch waits."""
        return bool(self._queues[_LANE])

    def qsize(self) -> int:
        """Batches waiting in both queues."""
        with self._lock:
            return len(self._queues[_BACKLOG]) + len(self._queues[_LANE])

    def oldest_queued(self) -> float | None:
        """When the longest-waiting batch was queued (monotonic), or None."""
        with self._lock:
            heads = [q[0][2] for q in self._queues if q]
        return min(heads) if heads else None

    def clear(self) -> None:
        """Forget every queued batch (an engine standing by)."""
        with self._lock:
            for q in self._queues:
                q.clear()
            self._space.notify_all()


def put_off_since(lane_waiting: bool, since: float | None, now: float, max_seconds: float) -> float | None:
    """Since when housekeeping has been put off for waiting lane batches, or None when it is due now (no lane
    batch waits, or it was put off for `max_seconds` already)."""
    if not lane_waiting or (since is not None and now - since >= max_seconds):
        return None
    return now if since is None else since
