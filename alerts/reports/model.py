"""The facts of an inspection report as frozen values: what `facts.gather` reads and the renderers show.

Times are timezone-aware UTC; values are in the pollutant's canonical unit (shown with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from alerts.model import LimitFacts as LimitFacts  # the limit that applied, as reports show it
from alerts.reports.file_facts import FileFacts


@dataclass(frozen=True, slots=True)
class Contact:
    """A person at the plant."""

    name: str
    role: str
    phone: str


@dataclass(frozen=True, slots=True)
class PlantFacts:
    """The plant (site) as the registry describes it."""

    site_id: int
    code: str
    name_zh: str
    name_en: str
    district_zh: str
    district_en: str
    industry: str
    permit_number: str | None
    address_zh: str | None
    address_en: str | None
    eia_approval: str | None
    notes: str | None
    enforcement_notes: str | None
    contacts: tuple[Contact, ...]


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """The monitoring point and its analyser."""

    device_id: int
    mn: str
    kind: str
    model: str | None
    point_kind: str
    point_name_zh: str
    point_name_en: str
    reporting_interval_seconds: int
    installed_on: date | None
    last_calibrated_on: date | None


@dataclass(frozen=True, slots=True)
class PollutantInfo:
    """A catalogue entry as people see it."""

    code: str
    name_zh: str
    name_en: str
    unit: str


@dataclass(frozen=True, slots=True)
class EventFacts:
    """The alert: when it began, how high it went, how long it has lasted, where it stands."""

    alert_id: int
    code: str
    rule: str
    category: str
    severity: str
    state: str
    opened_at: datetime
    first_breach_at: datetime
    peak_value: float | None
    peak_at: datetime | None
    last_value: float | None
    limit_value: float | None
    exceedance_multiple: float | None  # (peak - limit) / limit, Chinese practice
    value_to_limit: float | None  # peak / limit
    duration_seconds: float
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    disposition: str | None
    resolved_at: datetime | None
    note: str | None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One bucket of a series: the mean of valid values (None when none) and the worst flag."""

    time: datetime
    value: float | None
    flag: str


@dataclass(frozen=True, slots=True)
class Series:
    """One pollutant over the report window."""

    pollutant: PollutantInfo
    points: tuple[SeriesPoint, ...]
    minimum: float | None
    maximum: float | None
    mean: float | None
    last: float | None


@dataclass(frozen=True, slots=True)
class IntervalMean:
    """One row of readings_1h or readings_1d."""

    bucket: datetime
    mean: float | None
    minimum: float | None
    maximum: float | None
    sample_count: int
    valid_count: int
    flag: str
    marked_count: int = 0  # values under an active data review mark


@dataclass(frozen=True, slots=True)
class HourRow:
    """An hourly mean (`interval`, HJ 212 roll-up of flags) with its validity and whether it breaks the limit."""

    interval: IntervalMean
    valid: bool
    over_limit: bool
    # For a corrected flue-gas series (a21026z): the hour's measured mean and O2 mean it comes from.
    measured_mean: float | None = None
    o2_mean: float | None = None

    @property
    def hour_start(self) -> datetime:
        """The start of the hour this row covers."""
        return self.interval.bucket


@dataclass(frozen=True, slots=True)
class QualityDay:
    """Data quality of the device for one local day."""

    day: date
    expected: int
    received: int
    valid: int
    transmission_rate: float
    validity_rate: float | None


@dataclass(frozen=True, slots=True)
class QualityFacts:
    """Data quality of the alert's pollutant at the device over the last days."""

    days: tuple[QualityDay, ...]
    expected: int
    received: int
    valid: int
    transmission_rate: float
    validity_rate: float | None
    flag_counts: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class EarlierAlert:
    """An earlier alert at the same plant and how it was dealt with."""

    code: str
    pollutant: PollutantInfo
    rule: str
    severity: str
    state: str
    opened_at: datetime
    peak_value: float | None
    disposition: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class NotificationEntry:
    """One message of this alert's notification log."""

    created_at: datetime
    recipient: str
    phone: str
    reason: str
    status: str
    sent_at: datetime | None
    error_code: str | None


@dataclass(frozen=True, slots=True)
class EventLogEntry:
    """One state change of the alert (opened, escalated, acknowledged ...)."""

    time: datetime
    from_state: str | None
    to_state: str
    actor: str
    reason: str


@dataclass(frozen=True, slots=True)
class Check:
    """A recommended on-site check."""

    text_zh: str
    text_en: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class MarkedPeriod:
    """An approved data review mark over part of a report's period."""

    mn: str
    pollutant: str | None
    start_at: datetime
    end_at: datetime
    reason: str
    evidence: str
    proposed_by: str
    decided_by: str | None


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """Everything an inspection report shows, gathered at `generated_at`."""

    generated_at: datetime
    plant: PlantFacts
    device: DeviceFacts
    pollutant: PollutantInfo
    limit: LimitFacts | None
    event: EventFacts
    window_start: datetime
    window_end: datetime
    series: Series
    co_series: tuple[Series, ...]
    hours: tuple[HourRow, ...]
    quality: QualityFacts
    earlier_alerts: tuple[EarlierAlert, ...]
    notifications: tuple[NotificationEntry, ...]
    event_log: tuple[EventLogEntry, ...]
    checks: tuple[Check, ...]
    # The enterprise file's part (alerts/reports/file_facts.py); None where a caller builds facts without it.
    file: FileFacts | None = None
    # Active data review marks of the device over the window (alerts/reports/facts.py).
    marks: tuple[MarkedPeriod, ...] = ()

    @property
    def breach_marked(self) -> bool:
        """Whether an active review mark covers the reading the alert was raised on (its first breach)."""
        at = self.event.first_breach_at
        return any(m.start_at <= at < m.end_at and m.pollutant in (None, self.pollutant.code) for m in self.marks)
