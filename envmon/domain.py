"""Domain values shared by every component: readings and their flags and bases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Flag = Literal["N", "F", "M", "S", "D", "C", "T", "B"]
Basis = Literal["instant", "minute", "hour", "day"]
FLAGS: frozenset[str] = frozenset({"N", "F", "M", "S", "D", "C", "T", "B"})
# Any other single letter (P, power failure, of HJ/T 212-2005; letters of later revisions) is stored
# as sent and treated as abnormal; only N and S count as normal data.
FLAG_LETTERS: frozenset[str] = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
BASES: frozenset[str] = frozenset({"instant", "minute", "hour", "day"})


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated measurement, in the catalogue's canonical unit, at an aware UTC time.

    `device` is the MN code; `seq` is the device's message sequence number (MQTT devices send it;
    for HJ 212 loggers it is the sample time in epoch seconds, unique per device and basis).
    """

    device: str
    pollutant: str
    time: datetime
    value: float
    flag: str = "N"
    basis: Basis = "instant"
    seq: int = 0

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("Reading.time must be timezone-aware")
        if not is_flag_letter(self.flag):
            raise ValueError(f"data flag {self.flag!r} is not one ASCII letter")
        if self.basis not in BASES:
            raise ValueError(f"unknown basis {self.basis!r}")


def is_flag_letter(flag: str) -> bool:
    """Whether `flag` can be stored as a data flag: one ASCII letter, known (FLAGS) or not."""
    return flag in FLAG_LETTERS
