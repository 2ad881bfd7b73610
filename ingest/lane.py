"""The priority lane: life-safety devices' messages pass the analysers' backlog; acknowledgements do not.

Which devices ride it comes from one place, the catalogue: a device that reports any pollutant of kind
`safety` (combustible gas in %LEL, H2S, Cl2, NH3, CO, ambient O2: the gas detectors of GB/T 50493) rides
the lane with all its messages, so its series keep their order. Lane messages are decoded, committed and
handed to subscribers ahead of the backlog; `AckOrder` then releases acknowledgements in arrival order all
the same, because a client "MUST send PUBACK packets in the order in which the corresponding PUBLISH packets
were received" (MQTT 3.1.1 and 5.0, section 4.6 "Message ordering", [MQTT-4.6.0-2]).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

from envmon.catalogue import Catalogue

T = TypeVar("T")
BULK = 0
LANE = 1


def life_safety_codes(catalogue: Catalogue) -> frozenset[str]:
    """Every code (current and legacy) of the catalogue's life-safety pollutants (kind `safety`)."""
    return frozenset(code for p in catalogue.pollutants if p.kind == "safety" for code in (p.code, *p.legacy_codes))


def lane_devices(devices: Iterable[tuple[str, frozenset[str]]], safety_codes: frozenset[str]) -> frozenset[str]:
    """The MN codes of the devices (MN, registered pollutants) that report a life-safety pollutant."""
    return frozenset(mn for mn, pollutants in devices if not safety_codes.isdisjoint(pollutants))


class AckOrder(Generic[T]):
    """Items of two lanes committed out of arrival order, released for acknowledgement in arrival order.

    `arrived` is told, in arrival order, how many items came in each lane (the inbox calls it under its
    own lock, so this order is the order of its queues); `committed` is given each lane's items in that
    lane's order and returns the items that may now be acknowledged: an item waits for every item that
    arrived before it, whichever lane it rode. Thread-safe.
    """

    def __init__(self) -> None:
        self._runs: deque[list[int]] = deque()  # [lane, items] in arrival order, neighbours of one lane merged
        self._done: tuple[deque[T], deque[T]] = (deque(), deque())
        self._lock = threading.Lock()

    def arrived(self, lane: int, count: int) -> None:
        """`count` more items arrived in `lane` after every item noted so far."""
        if count <= 0:
            return
        with self._lock:
            if self._runs and self._runs[-1][0] == lane:
                self._runs[-1][1] += count
            else:
                self._runs.append([lane, count])

    def committed(self, lane: int, items: list[T]) -> list[T]:
        """Record `lane`'s next committed items; the items now released, in arrival order."""
        with self._lock:
            self._done[lane].extend(items)
            return self._release()

    @property
    def waiting(self) -> int:
        """Items committed but held back by an earlier item not yet committed."""
        with self._lock:
            return len(self._done[BULK]) + len(self._done[LANE])

    def _release(self) -> list[T]:
        released: list[T] = []
        runs = self._runs
        while runs:
            run = runs[0]
            done = self._done[run[0]]
            count = min(run[1], len(done))
            if not count:
                break
            if count == len(done):  # the common case: all of it, in one step
                released.extend(done)
                done.clear()
            else:
                released.extend(done.popleft() for _ in range(count))
            run[1] -= count
            if run[1]:
                break
            runs.popleft()
        return released
