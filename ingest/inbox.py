"""The pipeline's bounded FIFO: sources add messages (one or many at a time), the writer takes batches.

A `queue.Queue` costs a lock round and a condition notify per item, on the network thread and on
the writer thread alike; here a whole read's worth of messages goes in under one lock, the writer
is woken only when its batch is full (or on the first item while it waits for one), and a source
blocks only while the inbox is full, which stops it reading (backpressure).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """Bounded FIFO; `put_many` may overshoot `capacity` by one call's items, never more."""

    def __init__(self, capacity: int) -> None:
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._space = threading.Condition(self._lock)
        self._wanted = 1  # the writer wants waking once this many items wait
        self._blocked = 0  # sources waiting for space
        # (monotonic arrival time, items left) per put_many call, oldest first
        self._arrivals: deque[list[float]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put_many(self, items: list[T]) -> None:
        """Add items in order; blocks while the inbox is full."""
        if not items:
            return
        with self._lock:
            while len(self._items) >= self._capacity:
                self._blocked += 1
                try:
                    self._space.wait()
                finally:
                    self._blocked -= 1
            self._arrivals.append([time.monotonic(), len(items)])
            self._items.extend(items)
            if len(self._items) >= self._wanted:
                self._ready.notify()

    def take(self, max_items: int, first_timeout: float, linger: float) -> list[T]:
        """Up to `max_items`, oldest first: waits up to `first_timeout` for the first one, then until
        `linger` seconds after the oldest item arrived for the batch to fill; [] when nothing came.

        The linger counts from the oldest item's arrival, not from this call: items that arrived
        while the caller was busy with the previous batch have waited already."""
        with self._lock:
            if not self._items:
                self._wanted = 1
                self._ready.wait(first_timeout)
                if not self._items:
                    return []
            deadline = self._arrivals[0][0] + linger
            self._wanted = max_items
            while len(self._items) < max_items:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            self._wanted = 1
            count = min(max_items, len(self._items))
            popleft = self._items.popleft
            batch = [popleft() for _ in range(count)]
            self._forget_arrivals(count)
            if self._blocked:
                self._space.notify_all()
            return batch

    def _forget_arrivals(self, count: int) -> None:
        arrivals = self._arrivals
        while count:
            first = arrivals[0]
            if first[1] > count:
                first[1] -= count
                return
            count -= int(first[1])
            arrivals.popleft()
