"""The alert engine's vocabulary: rules, severities, resolved limits, the batch it reads and the
transitions it emits. Pure values; every other alerts module speaks in these.

Who produces what:
  engine.evaluate(batch, now) / engine.tick(now)  ->  list[Transition]   (conditions; pure)
  lifecycle (open/escalated/acknowledged/resolved/closed, latching, escalation, reminders)
  store (database), service (runs it), sms/render/routing (notifications)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from envmon.domain import Category, LimitBasis, Severity

# Rule names as stored in alerts.rule; one open alert per (device, pollutant, rule).
Rule = Literal[
    "instant",  # discharge limit against instantaneous values (pre-warning of a daily/hourly limit)
    "hour_avg",  # discharge limit against the valid hourly average (HJ 212 Appendix D)
    "day_avg",  # discharge limit against the valid daily average (China Standard Time days)
    "gas",  # GB/T 50493 two-level gas alarm (LEL %, toxic ppm, O2 range)
    "flag",  # the device reports F/M/D/C/T/B or an unknown flag: one alert per device listing its pollutants
    "manual",  # the device keeps sending S (manually entered) values: a known falsification signal
    "silent",  # no data for the device's silence window (timer)
    "zero_flow",  # a concentration of zero while the outfall's flow runs
    "constant",  # the same value over N samples (stuck sensor)
    "negative",  # a negative concentration
    "seq_gap",  # messages missing after every resend request
    "implausible",  # a normal value outside the device channel's measuring range
]
RULES: tuple[str, ...] = (
    "instant", "hour_avg", "day_avg", "gas", "flag", "silent", "zero_flow", "constant", "negative", "seq_gap",
    "manual", "implausible",
)
# The pollutant column of alerts that concern the whole device (silent, seq_gap, flag, manual).
WHOLE_DEVICE = "*"


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What makes an alert unique while open."""

    device_id: int
    pollutant: str
    rule: str

    def as_text(self) -> str:
        """A stable string form, for JSON state."""
        return f"{self.device_id}|{self.pollutant}|{self.rule}"

    @staticmethod
    def from_text(text: str) -> AlertKey:
        device, pollutant, rule = text.split("|")
        return AlertKey(int(device), pollutant, rule)


@dataclass(frozen=True, slots=True)
class LimitFacts:
    """A limit as its standard or permit states it, values in the canonical unit, with its legal source."""

    limit_id: int | None
    scheme: Literal["discharge", "gas_alarm"]
    basis: LimitBasis
    direction: Literal["upper", "lower", "range"]
    lower: float | None
    upper: float | None
    warning_ratio: float | None
    severe_multiple: float | None
    level2_lower: float | None
    level2_upper: float | None
    unit: str
    source: str
    valid_from: datetime
    valid_to: datetime | None


@dataclass(frozen=True, slots=True)
class LimitSpec(LimitFacts):
    """One limit as it applies to one device and pollutant (what the engine judges against)."""

    device_id: int
    pollutant: str
    # Where the limit was assigned: device scope beats site scope beats default (alerts/rules/limits.py).
    scope: Literal["default", "site", "device"] = "device"
    # Decimals of the limit as the standard writes it (GB/T 8170 rounding); None: those of the value given.
    decimals: int | None = None
    # Set by the plant's discharge permit, stricter than the national standard (envmon/registry/permits.py).
    from_permit: bool = False


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """What the engine and the notifications need of one device."""

    device_id: int
    mn: str
    site_code: str
    site_name_zh: str
    site_name_en: str
    district: str
    industry: str
    kind: Literal["water_analyser", "cems", "gas_detector"]
    point_name_zh: str
    point_name_en: str
    pollutants: tuple[str, ...]
    reporting_interval_seconds: int
    transport: Literal["mqtt", "hj212"] = "mqtt"
    # Where it stands (outfall, workshop_outlet, stack, area): which site limits apply to it.
    point_kind: str = "outfall"


TransitionKind = Literal["open", "severity", "clear", "update"]


@dataclass(frozen=True, slots=True)
class Transition:
    """A change the engine saw in one alert condition.

    open: the condition held for its hold time (a new alert); severity: an open condition moved to
    another severity (up or down); clear: the condition stayed past its clear threshold for the
    clear hold time; update: the peak rose (no notification).
    """

    kind: TransitionKind
    key: AlertKey
    category: Category
    severity: Severity
    time: datetime  # when it happened (the reading's time, or `now` for timers)
    value: float | None  # the value that triggered it, canonical unit (None for timers)
    limit_value: float | None  # the threshold broken (the limit, or the level's set point)
    limit_id: int | None
    first_breach_at: datetime
    peak_value: float | None
    peak_at: datetime | None
    detail: dict[str, object] = field(default_factory=dict)  # rule specifics, e.g. {"valid_hours": 21}
