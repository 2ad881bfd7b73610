"""The ring buffer of sent messages that answers resend requests with exactly what it still holds."""

from __future__ import annotations

import threading
from collections import OrderedDict


class RingBuffer:
    """The last `capacity` messages by sequence number (thread-safe: paho calls back on its own thread)."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, seq: int, payload: bytes) -> None:
        """Remember a message; the oldest goes when full."""
        with self._lock:
            self._items[seq] = payload
            self._items.move_to_end(seq)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get_range(self, first_seq: int, last_seq: int) -> list[tuple[int, bytes]]:
        """The held messages with first_seq <= seq <= last_seq, in order of seq."""
        with self._lock:
            if last_seq - first_seq < len(self._items):
                found = [(s, self._items[s]) for s in range(first_seq, last_seq + 1) if s in self._items]
            else:
                found = sorted((s, p) for s, p in self._items.items() if first_seq <= s <= last_seq)
        return found

    def __len__(self) -> int:
        return len(self._items)
