"""Batches finish out of order when several committers write at once; acknowledgements must not."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class InOrder(Generic[T]):
    """Releases numbered values in number order, from 0: a value waits for every lower number."""

    def __init__(self) -> None:
        self._next = 0
        self._waiting: dict[int, T] = {}

    def add(self, number: int, value: T) -> list[T]:
        """Record one finished value; the values now released, in order."""
        if number < self._next or number in self._waiting:
            raise ValueError(f"number {number} was added before")
        self._waiting[number] = value
        released = []
        while self._next in self._waiting:
            released.append(self._waiting.pop(self._next))
            self._next += 1
        return released

    @property
    def waiting(self) -> int:
        """Values finished but held back by a lower number."""
        return len(self._waiting)
