"""Strict models of a registry file and of the limit presets; unknown keys and bad values are errors.

A registry file describes one or more districts completely: districts, sites (plants), devices,
limit assignments, recipients and escalation chains. References (a device's site, a chain's
recipients, a limit's preset) must resolve inside the same file.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from envmon.domain import Category, Severity
from envmon.domain import LimitBasis as Basis
from envmon.registry.bounds import check_value

Industry = Literal[
    "electroplating",
    "lead_acid_battery",
    "chemical",
    "pharmaceutical",
    "printing_dyeing",
    "smelting",
    "other",
]
# outfall: the plant's main wastewater outfall (企业废水总排放口); workshop_outlet: the outlet of a
# workshop or its treatment facility (车间或生产设施废水排放口), where first-class pollutants are judged.
PointKind = Literal["outfall", "workshop_outlet", "stack", "area"]
DeviceKind = Literal["water_analyser", "cems", "gas_detector"]
Transport = Literal["mqtt", "hj212"]
Scheme = Literal["discharge", "gas_alarm"]
Direction = Literal["upper", "lower", "range"]
Locale = Literal["zh-CN", "en"]

ALWAYS = datetime(2000, 1, 1, tzinfo=UTC)
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MN = r"^[A-Za-z0-9_-]{1,64}$"
PHONE = r"^\+[1-9][0-9]{6,14}$"
# Which catalogue kinds each device kind measures, and where it stands.
DEVICE_POLLUTANT_KIND = {"water_analyser": "water", "cems": "gas", "gas_detector": "safety"}
DEVICE_POINT_KINDS: dict[str, tuple[str, ...]] = {
    "water_analyser": ("outfall", "workshop_outlet"),
    "cems": ("stack",),
    "gas_detector": ("area",),
}


class Strict(BaseModel):
    """Base: unknown keys are errors, values must already have the right TOML type."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _bounded(cls, value: Any, info: ValidationInfo) -> Any:
        """Every field of every registry model: finite numbers, bounded text without control characters."""
        return check_value(value, field=info.field_name or "")


class Thresholds(Strict):
    """Threshold values shared by presets and explicit limits (canonical unit)."""

    direction: Direction = "upper"
    lower: float | None = None
    upper: float | None = None
    warning_ratio: float | None = Field(default=None, gt=0, lt=1)
    severe_multiple: float | None = Field(default=None, gt=1)
    level2_lower: float | None = None
    level2_upper: float | None = None
    # Decimals of the limit as the standard writes it (GB/T 8170 rounding); None: those of the value given.
    decimals: int | None = Field(default=None, ge=0, le=6)

    def check_thresholds(self, scheme: Scheme) -> None:
        """Raise ValueError when the values do not fit the direction and scheme."""
        needs = {"upper": ("upper",), "lower": ("lower",), "range": ("lower", "upper")}[self.direction]
        missing = [n for n in needs if getattr(self, n) is None]
        if missing:
            raise ValueError(f"direction {self.direction!r} needs {' and '.join(missing)}")
        if self.direction == "range" and self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"lower {self.lower} must be below upper {self.upper}")
        if scheme == "gas_alarm" and (self.warning_ratio is not None or self.severe_multiple is not None):
            raise ValueError("gas_alarm limits use level2_lower/level2_upper, not warning_ratio/severe_multiple")
        if scheme == "discharge" and (self.level2_lower is not None or self.level2_upper is not None):
            raise ValueError("discharge limits use warning_ratio/severe_multiple, not level2 values")
        if self.level2_upper is not None and self.upper is not None and self.level2_upper <= self.upper:
            raise ValueError(f"level2_upper {self.level2_upper} must be above upper {self.upper}")


class PresetLimit(Thresholds):
    """One row of a preset; `point_kinds` limits where it applies (empty: at any point measuring it)."""

    pollutant: str
    confidence: Literal["V", "S", "U"]
    point_kinds: list[PointKind] = []
    citation: str | None = None


class Preset(Strict):
    """A named set of limits from one standard and table."""

    id: str = Field(pattern=CODE)
    name_zh: str
    name_en: str
    source: str
    scheme: Scheme
    basis: Basis
    warning_ratio: float | None = Field(default=None, gt=0, lt=1)
    # The reference O2 (%) the standard corrects flue-gas concentrations to for this source type.
    o2_reference_percent: float | None = Field(default=None, ge=0, lt=21)
    limits: list[PresetLimit]

    @model_validator(mode="after")
    def _rows_fit_scheme(self) -> Preset:
        for row in self.limits:
            row.check_thresholds(self.scheme)
        return self

    def row(self, pollutant: str) -> PresetLimit | None:
        """The preset's row for a pollutant, if it has one."""
        return next((r for r in self.limits if r.pollutant == pollutant), None)


class PresetFile(Strict):
    presets: list[Preset]


class District(Strict):
    code: str = Field(pattern=CODE)
    name_zh: str
    name_en: str


class Contact(Strict):
    name: str
    role: str
    phone: str = Field(pattern=PHONE)


class Site(Strict):
    """A plant."""

    code: str = Field(pattern=CODE)
    name_zh: str
    name_en: str
    district: str
    industry: Industry
    permit_number: str | None = None
    address_zh: str | None = None
    address_en: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    eia_approval: str | None = None
    notes: str | None = None
    enforcement_notes: str | None = None
    limit_presets: list[str] = []
    contacts: list[Contact] = []


# ----- measuring ranges (issue 16 finding 1) -----------------------------------------------------------------
class MeasuringRange(Strict):
    """An analyser channel's measuring range in the catalogue's canonical unit (HJ 212 T = above `upper`)."""

    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MeasuringRange:
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError(f"lower {self.lower} must be below upper {self.upper}")
        return self


class Device(Strict):
    """An analyser, a stack monitor (CEMS) or a gas detector."""

    mn: str = Field(pattern=MN)
    site: str
    point_kind: PointKind
    point_name_zh: str
    point_name_en: str
    kind: DeviceKind
    transport: Transport
    system_code: str = Field(pattern=r"^[0-9]{2}$")
    model: str | None = None
    pollutants: list[str] = Field(min_length=1)
    reporting_interval_seconds: int = Field(gt=0, le=86400)
    hj212_password: str | None = None
    installed_on: date | None = None
    last_calibrated_on: date | None = None
    # Per-channel protocol units and the source's reference O2: see DeviceUnits below.
    units: dict[str, str] = {}
    o2_reference_percent: float | None = Field(default=None, ge=0, lt=21)
    # Pollutant code -> measuring range of that channel (issue 16 finding 1).
    measuring_ranges: dict[str, MeasuringRange] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Device:
        if self.transport == "hj212" and not self.hj212_password:
            raise ValueError("transport 'hj212' needs hj212_password (the PW the data logger sends)")
        if self.point_kind not in DEVICE_POINT_KINDS[self.kind]:
            allowed = " or ".join(repr(k) for k in DEVICE_POINT_KINDS[self.kind])
            raise ValueError(f"a {self.kind} stands at an {allowed} point, not {self.point_kind!r}")
        if len(set(self.pollutants)) != len(self.pollutants):
            raise ValueError("pollutants lists a code twice")
        return self

    @model_validator(mode="after")
    def _tables_of_own_channels(self) -> Device:
        # The unit check against the catalogue is in registry.load (check_device_units).
        _refuse_strangers("measuring_ranges", "pollutants", self.measuring_ranges, self.pollutants)
        _refuse_strangers("units", "codes", self.units, self.pollutants)
        return self

    @model_validator(mode="after")
    def _o2_reference_on_stacks(self) -> Device:
        if self.o2_reference_percent is not None and self.kind != "cems":
            raise ValueError("o2_reference_percent is for stack monitors (cems), not a " + self.kind)
        return self


def _refuse_strangers(table: str, what: str, codes: Iterable[str], pollutants: Iterable[str]) -> None:
    """Refuse a per-channel table of a device that names codes the device does not measure."""
    strangers = sorted(set(codes) - set(pollutants))
    if strangers:
        raise ValueError(f"{table} names {what} the device does not measure: {', '.join(strangers)}")


class Limit(Thresholds):
    """A limit assignment: from a preset row, or explicit values with their legal source."""

    site: str | None = None
    device: str | None = None
    pollutant: str
    preset: str | None = None
    scheme: Scheme | None = None
    basis: Basis | None = None
    source: str | None = None
    valid_from: datetime = ALWAYS
    valid_to: datetime | None = None
    # Where an explicit site limit applies (empty: the preset row's points, or any point).
    point_kinds: list[PointKind] = []

    @model_validator(mode="after")
    def _consistent(self) -> Limit:
        if self.site and self.device:
            raise ValueError("give site or device, not both")
        if self.valid_from.tzinfo is None or (self.valid_to and self.valid_to.tzinfo is None):
            raise ValueError("valid_from/valid_to need a UTC offset (e.g. 2024-01-01T00:00:00+08:00)")
        if self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        if self.preset is None:
            missing = [k for k in ("scheme", "basis", "source") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a limit without preset needs {', '.join(missing)}")
            assert self.scheme is not None
            self.check_thresholds(self.scheme)
        elif self.lower is not None or self.upper is not None:
            raise ValueError("give preset or explicit lower/upper values, not both")
        return self

    @property
    def scope(self) -> Literal["default", "site", "device"]:
        return "device" if self.device else "site" if self.site else "default"


class Recipient(Strict):
    code: str = Field(pattern=CODE)
    name: str
    phone: str = Field(pattern=PHONE)
    locale: Locale = "zh-CN"
    role: str


class EscalationStep(Strict):
    delay_seconds: int = Field(ge=0)
    recipients: list[str] = Field(min_length=1)


class EscalationChain(Strict):
    code: str = Field(pattern=CODE)
    name: str
    districts: list[str] = []
    industries: list[Industry] = []
    sites: list[str] = []
    categories: list[Category] = []
    severities: list[Severity] = []
    repeat_interval_seconds: int = Field(gt=0)
    steps: list[EscalationStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _delays_ascend(self) -> EscalationChain:
        delays = [s.delay_seconds for s in self.steps]
        if delays != sorted(delays):
            raise ValueError("steps must be in order of delay_seconds")
        return self


# ----- enterprise file (issue 19 part 1) ----------------------------------------------------------------------
EiaKind = Literal["approval", "acceptance"]
EnforcementKind = Literal[
    "inspection", "warning", "order_to_correct", "penalty", "daily_penalty", "seizure", "production_limit", "referral"
]
EnforcementStatus = Literal["open", "rectifying", "closed", "appealed"]


class PermitLimit(Strict):
    """A permitted limit of one pollutant at one outlet, in the catalogue's canonical unit."""

    pollutant: str
    basis: Basis = "day"
    direction: Direction = "upper"
    lower: float | None = None
    upper: float | None = None
    decimals: int | None = Field(default=None, ge=0, le=6)

    @model_validator(mode="after")
    def _fits_direction(self) -> PermitLimit:
        Thresholds(direction=self.direction, lower=self.lower, upper=self.upper).check_thresholds("discharge")
        return self


class PermitOutlet(Strict):
    """An outlet as the permit numbers it (DW001 ...), the devices standing at it and its limits."""

    code: str = Field(pattern=CODE)
    name_zh: str
    name_en: str
    devices: list[str] = []
    limits: list[PermitLimit] = []


class Permit(Strict):
    """A plant's discharge permit (排污许可证); dates are the permit's own calendar days, both inclusive."""

    site: str
    number: str = Field(min_length=1, max_length=64)
    issued_by: str | None = None
    valid_from: date
    valid_to: date
    outlets: list[PermitOutlet] = []

    @model_validator(mode="after")
    def _ordered(self) -> Permit:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to must not be before valid_from")
        return self


class EiaRecord(Strict):
    """An EIA approval (环评批复) or an environmental acceptance (验收) of a plant."""

    site: str
    kind: EiaKind
    number: str = Field(min_length=1, max_length=128)
    authority: str | None = None
    decided_on: date
    note: str | None = None


class EnforcementRecord(Strict):
    """An enforcement case against a plant: date, type, case number, penalty and status."""

    site: str
    decided_on: date
    kind: EnforcementKind
    case_number: str = Field(min_length=1, max_length=128)
    penalty_yuan: float | None = Field(default=None, ge=0)
    status: EnforcementStatus
    summary: str | None = None


class RegistryFile(Strict):
    """A whole registry file."""

    version: Literal[1] = 1
    districts: list[District] = []
    sites: list[Site] = []
    devices: list[Device] = []
    limits: list[Limit] = []
    recipients: list[Recipient] = []
    escalation_chains: list[EscalationChain] = []
    # The enterprise file (issue 19): permits, EIA records and enforcement records of the sites above.
    permits: list[Permit] = []
    eia_records: list[EiaRecord] = []
    enforcement_records: list[EnforcementRecord] = []
