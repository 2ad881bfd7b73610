"""The vocabulary every component shares, defined once: readings, flags, bases, alert categories, severities, states."""

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
# In this order: a reading's basis is stored in columns as its index here (envmon.columns.BASIS_INDEX).
BASES: tuple[Basis, ...] = ("instant", "minute", "hour", "day")
# The bases a limit can be judged on (registry limits and the administration form).
LimitBasis = Literal["instant", "hour", "day"]
LIMIT_BASES: tuple[LimitBasis, ...] = ("instant", "hour", "day")

Category = Literal["pollution", "safety", "device"]
CATEGORIES: tuple[Category, ...] = ("pollution", "safety", "device")
# warning < exceedance < severe for discharge; level1 < level2 for gas; fault for device rules.
Severity = Literal["warning", "exceedance", "severe", "level1", "level2", "fault"]
SEVERITIES: tuple[Severity, ...] = ("warning", "exceedance", "severe", "level1", "level2", "fault")
SEVERITY_RANK: dict[str, int] = {
    "warning": 1, "exceedance": 2, "severe": 3, "level1": 2, "level2": 3, "fault": 1,
}
# Alarms: their alerts stay open after the condition clears until a person acknowledges them.
LATCHING_SEVERITIES: frozenset[str] = frozenset({"exceedance", "severe", "level1", "level2"})

AlertState = Literal["open", "escalated", "acknowledged", "resolved", "closed"]
ALERT_STATES: tuple[AlertState, ...] = ("open", "escalated", "acknowledged", "resolved", "closed")
# States in which the unique partial index alerts_one_open holds the (device, pollutant, rule) slot.
ACTIVE_STATES: frozenset[str] = frozenset({"open", "escalated", "acknowledged"})
# States in which people still owe an acknowledgement (escalation and reminders run).
UNACKNOWLEDGED_STATES: frozenset[str] = frozenset({"open", "escalated"})
# States after which nothing more happens to an alert but reports and notices of its end.
ENDED_STATES: frozenset[str] = frozenset({"resolved", "closed"})


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated measurement, in the catalogue's canonical unit, at an aware UTC time.

    `device` is the MN code; `seq` is the device's message sequence number (MQTT devices send it;
    for HJ 212 loggers it is the sample time in epoch seconds, unique per device and basis).
    What an HJ 212 frame decodes to, before the registry knows the device (hence the MN, not an id);
    ingest turns it into an `envmon.columns.Row` once it does.
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


# A valid interval mean (for SQL over readings_1h/readings_1d). Wastewater: any valid value makes a valid
# mean (HJ 212 Appendix D: an hourly value from 1-6 valid ten-minute values, a daily one from 1-24 valid
# hours), although the rolled-up flag marks the interval when any value was abnormal. Flue gas: the
# roll-up already requires 75 % valid values for flag N. alerts.reports.measures.is_valid_interval is the
# same rule in Python; the reports and the dashboard's exports both use it.
VALID_INTERVAL_SQL = "(valid_count > 0 AND (flag = 'N' OR left(pollutant, 1) = 'w'))"
