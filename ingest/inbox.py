"""The pipeline's bounded inbox: sources add messages (one or many at a time), the stages take batches.

A `queue.Queue` costs a lock round and a condition notify per item, on the network thread and on
the writer thread alike; here a whole read's worth of messages goes in under one lock, the writer
is woken only when its batch is full (or on the first item while it waits for one), and a source
blocks only while the inbox is full, which stops it reading (backpressure).

Full and a batch's size count items and, when the inbox is given a weight per item, their weight too (the
pipeline weighs a message by its bytes: a store-and-forward message carries up to 1,000 samples, so 65,535 of
them or a batch of 2,000 would be gigabytes and a commit of minutes).

Two first-in first-out queues share the capacity: the backlog (`take`) and the priority lane
(`take_lane`, ingest/lane.py) for life-safety devices, whose messages are taken ahead of the backlog.
`on_arrival(lane, count)` is told, under the inbox's lock, how many items entered which queue in
arrival order, so acknowledgements can be put back in arrival order (ingest.lane.AckOrder).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from ingest.lane import BULK, LANE

T = TypeVar("T")
OnArrival = Callable[[int, int], None]


def _one(item: object) -> int:
    return 1


class Inbox(Generic[T]):
    """Bounded FIFOs; `put_many` may overshoot `capacity` (items) or `weight_capacity` by one call's items, never
    more."""

    def __init__(
        self, capacity: int, *, weigh: Callable[[T], int] = _one, weight_capacity: int | None = None,
        on_arrival: OnArrival | None = None,
    ) -> None:
        self._items: deque[T] = deque()
        self._lane: deque[T] = deque()
        self._capacity = capacity
        self._weigh = weigh
        self._weight_capacity = weight_capacity
        self._weight = 0  # of the backlog's items waiting
        self._lane_weight = 0  # of the lane's
        self._on_arrival = on_arrival or (lambda _lane, _count: None)
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._lane_ready = threading.Condition(self._lock)
        self._space = threading.Condition(self._lock)
        self._wanted = 1  # the writer wants waking once this many items wait
        self._wanted_weight = 0  # ... or once they weigh this much (0: not asked)
        self._blocked = 0  # sources waiting for space
        # (monotonic arrival time, items left) per put of backlog items, oldest first
        self._arrivals: deque[list[float]] = deque()

    def __len__(self) -> int:
        return len(self._items) + len(self._lane)

    @property
    def lane_depth(self) -> int:
        """Items waiting in the priority lane."""
        return len(self._lane)

    @property
    def backlog_depth(self) -> int:
        """Items waiting in the backlog (not the lane)."""
        return len(self._items)

    def put_many(self, items: list[T], lanes: Sequence[bool] | None = None) -> None:
        """Add items in order, each to the lane when its `lanes` flag is set (None: all to the backlog);
        blocks while the inbox is full."""
        if not items:
            return
        weights = [self._weigh(item) for item in items]  # outside the lock, which the takers wait for
        with self._lock:
            while self._full():
                self._blocked += 1
                try:
                    self._space.wait()
                finally:
                    self._blocked -= 1
            if lanes is None:
                self._add_backlog(items, sum(weights))
                return
            for lane, run, weight in _runs(items, weights, lanes):
                if lane:
                    self._on_arrival(LANE, len(run))
                    self._lane.extend(run)
                    self._lane_weight += weight
                    self._lane_ready.notify()
                else:
                    self._add_backlog(run, weight)

    def _add_backlog(self, items: list[T], weight: int) -> None:
        self._on_arrival(BULK, len(items))
        self._arrivals.append([time.monotonic(), len(items)])
        self._items.extend(items)
        self._weight += weight
        if len(self._items) >= self._wanted or (self._wanted_weight and self._weight >= self._wanted_weight):
            self._ready.notify()

    def _full(self) -> bool:
        return len(self._items) + len(self._lane) >= self._capacity or (
            self._weight_capacity is not None and self._weight + self._lane_weight >= self._weight_capacity)

    def take(self, max_items: int, first_timeout: float, linger: float, max_weight: int | None = None) -> list[T]:
        """Up to `max_items` of the backlog (and, given `max_weight`, items weighing at most that together, but
        always at least one), oldest first: waits up to `first_timeout` for the first one, then until `linger`
        seconds after the oldest item arrived for the batch to fill; [] when nothing came.

        The linger counts from the oldest item's arrival, not from this call: items that arrived
        while the caller was busy with the previous batch have waited already."""
        with self._lock:
            if not self._items:
                self._wanted = 1
                self._ready.wait(first_timeout)
                if not self._items:
                    return []
            deadline = self._arrivals[0][0] + linger
            self._wanted, self._wanted_weight = max_items, max_weight or 0
            while len(self._items) < max_items and (max_weight is None or self._weight < max_weight):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            self._wanted, self._wanted_weight = 1, 0
            batch, weight = _take_oldest(self._items, self._weigh, max_items, max_weight)
            self._weight -= weight
            self._forget_arrivals(len(batch))
            if self._blocked:
                self._space.notify_all()
            return batch

    def take_lane(self, max_items: int, timeout: float, max_weight: int | None = None) -> list[T]:
        """Up to `max_items` (and `max_weight`) of the priority lane, oldest first, at once (no linger: an alarm
        must not wait for company); waits up to `timeout` for the first one; [] when nothing came."""
        with self._lock:
            if not self._lane:
                self._lane_ready.wait(timeout)
            batch, weight = _take_oldest(self._lane, self._weigh, max_items, max_weight)
            self._lane_weight -= weight
            if batch and self._blocked:
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


def _take_oldest(
    items: deque[T], weigh: Callable[[T], int], max_items: int, max_weight: int | None
) -> tuple[list[T], int]:
    """The oldest items, up to `max_items` and `max_weight` together (at least one), and their weight."""
    batch: list[T] = []
    taken = 0
    while items and len(batch) < max_items:
        weight = weigh(items[0])
        if batch and max_weight is not None and taken + weight > max_weight:
            break
        batch.append(items.popleft())
        taken += weight
    return batch, taken


def _runs(items: list[T], weights: list[int], lanes: Sequence[bool]) -> list[tuple[bool, list[T], int]]:
    """The items cut into runs of neighbours of one lane, in order, each with its weight."""
    runs: list[tuple[bool, list[T], int]] = []
    for item, weight, lane in zip(items, weights, lanes, strict=True):
        if runs and runs[-1][0] == lane:
            runs[-1][1].append(item)
            runs[-1] = (lane, runs[-1][1], runs[-1][2] + weight)
        else:
            runs.append((lane, [item], weight))
    return runs
