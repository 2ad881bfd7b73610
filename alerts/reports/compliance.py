"""Daily and monthly compliance reports per plant: exceedances, transmission and validity rates per parameter.

Periods are local calendar days and months (settings.timezone; the daily aggregates use China Standard
Time days). A parameter's compliance is judged on its limit's basis: daily averages for a daily limit,
hourly averages for an hourly one, valid values for an instantaneous one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from alerts.reports import measures
from alerts.reports.errors import ReportError
from alerts.reports.facts import applicable_limit, plant_facts, pollutant_names
from alerts.reports.intervals import Width, interval_means
from alerts.reports.model import EarlierAlert, LimitFacts, MarkedPeriod, PlantFacts, PollutantInfo
from envmon.validity import Counts, kpis
from envmon.validity_store import gather_counts

Kind = Literal["daily", "monthly"]
KINDS: tuple[str, ...] = ("daily", "monthly")
_INSTANT_SQL = """
SELECT count(*), count(*) FILTER (WHERE value > %(upper)s OR value < %(lower)s), avg(value), max(value)
FROM readings_reviewed WHERE device_id = %(device)s AND pollutant = %(pollutant)s AND basis = 'instant'
  AND time >= %(start)s AND time < %(end)s AND flag = 'N'
"""
# Marks in force over the period (data review): the report lists them beside the judgement they changed.
_MARKS_SQL = """
SELECT d.mn, m.pollutant, m.start_at, m.end_at, m.reason, m.evidence, m.proposed_by, m.decided_by
FROM data_marks m JOIN devices d ON d.id = m.device_id
WHERE d.site_id = %s AND m.state = 'active' AND m.start_at < %s AND m.end_at > %s ORDER BY m.start_at, m.id
"""
_ALERTS_SQL = """
SELECT a.code, a.pollutant, a.rule, a.severity, a.state, a.opened_at, a.peak_value, a.disposition, a.note
FROM alerts a JOIN devices d ON d.id = a.device_id
WHERE d.site_id = %s AND a.opened_at >= %s AND a.opened_at < %s ORDER BY a.opened_at
"""


@dataclass(frozen=True, slots=True)
class ComplianceRow:
    """One parameter at one monitoring point over the period."""

    mn: str
    point_name_zh: str
    point_name_en: str
    pollutant: PollutantInfo
    limit: LimitFacts | None
    expected: int
    received: int
    valid: int
    transmission_rate: float
    validity_rate: float | None
    intervals: int  # valid values on the limit's basis (days, hours or samples)
    over: int  # of which outside the limit
    mean: float | None
    maximum: float | None

    @property
    def effective_transmission_rate(self) -> float:
        """Transmission rate x validity rate (0 when nothing was received)."""
        return self.transmission_rate * (self.validity_rate or 0.0)


@dataclass(frozen=True, slots=True)
class ComplianceFacts:
    """A plant's compliance over one day or month."""

    plant: PlantFacts
    kind: str
    period_start: date
    period_end: date  # exclusive
    generated_at: datetime
    rows: tuple[ComplianceRow, ...]
    alerts: tuple[EarlierAlert, ...]
    marks: tuple[MarkedPeriod, ...] = ()

    @property
    def exceedance_alerts(self) -> int:
        """Pollution alerts of exceedance or severe level opened in the period."""
        return sum(1 for a in self.alerts if a.severity in ("exceedance", "severe"))

    @property
    def transmission_rate(self) -> float:
        """Received / expected over every parameter of the plant."""
        return measures.transmission_rate(sum(r.received for r in self.rows), sum(r.expected for r in self.rows))

    @property
    def validity_rate(self) -> float | None:
        """Valid / received over every parameter of the plant."""
        return measures.validity_rate(sum(r.valid for r in self.rows), sum(r.received for r in self.rows))

    @property
    def effective_transmission_rate(self) -> float | None:
        """Transmission rate x validity rate over every parameter of the plant (envmon.validity)."""
        total = Counts(sum(r.expected for r in self.rows), sum(r.received for r in self.rows),
                       sum(r.valid for r in self.rows))
        return kpis(total).effective_transmission_rate


def period_of(kind: str, day: date) -> tuple[date, date]:
    """The day, or the calendar month, containing `day`: (first day, first day after)."""
    if kind == "daily":
        return day, day + timedelta(days=1)
    if kind != "monthly":
        raise ReportError(f"kind must be daily or monthly, not {kind!r}")
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


def last_complete_period(kind: str, now: datetime, zone: str) -> tuple[date, date]:
    """The latest day or month that has ended, in local time (yesterday; last month)."""
    today = now.astimezone(ZoneInfo(zone)).date()
    if kind == "daily":
        return period_of(kind, today - timedelta(days=1))
    return period_of(kind, today.replace(day=1) - timedelta(days=1))


def _utc_bounds(start: date, end: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    return datetime.combine(start, datetime.min.time(), tz), datetime.combine(end, datetime.min.time(), tz)


def gather_compliance(
    conn: psycopg.Connection, site_code: str, kind: str, day: date, *, now: datetime, zone: str
) -> ComplianceFacts:
    """The compliance facts of a plant for the day or month containing `day` (up to `now` if it is running)."""
    start_day, end_day = period_of(kind, day)
    start, end = _utc_bounds(start_day, end_day, zone)
    end = min(end, now)
    site = _site_row(conn, site_code)
    site_id = int(site["site_id"])
    counts = {(int(c.device["id"]), c.pollutant): c.counts
              for c in gather_counts(conn, start=start, end=end, where="s.id = %(site)s", params={"site": site_id})}
    rows: list[ComplianceRow] = []
    for device in _devices(conn, site_id):
        rows.extend(_device_rows(conn, device, start, end, counts))
    alerts = _alerts(conn, site_id, start, end)
    marks = tuple(MarkedPeriod(*r) for r in conn.execute(_MARKS_SQL, (site_id, end, start)).fetchall())
    return ComplianceFacts(plant_facts(site), kind, start_day, end_day, now, tuple(rows), alerts, marks)


def _site_row(conn: psycopg.Connection, site_code: str) -> dict[str, Any]:
    query = (
        "SELECT s.id AS site_id, s.code AS site_code, s.name_zh AS site_name_zh, s.name_en AS site_name_en,"
        " s.industry, s.permit_number, s.address_zh, s.address_en, s.eia_approval, s.notes AS site_notes,"
        " s.enforcement_notes, s.contacts, di.name_zh AS district_zh, di.name_en AS district_en"
        " FROM sites s JOIN districts di ON di.code = s.district WHERE s.code = %s"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, (site_code,)).fetchone()
    if row is None:
        raise ReportError(f"no plant with code {site_code!r}")
    return row


def _devices(conn: psycopg.Connection, site_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT d.id, d.mn, d.point_name_zh, d.point_name_en, d.pollutants, d.reporting_interval_seconds"
            " FROM devices d WHERE d.site_id = %s AND d.active ORDER BY d.mn",
            (site_id,),
        ).fetchall()


def _device_rows(
    conn: psycopg.Connection, device: dict[str, Any], start: datetime, end: datetime,
    counts: dict[tuple[int, str], Counts],
) -> list[ComplianceRow]:
    """Counts come from envmon.validity_store: maintenance and calibration marks leave expected and received."""
    names = pollutant_names(conn, device["pollutants"])
    rows = []
    for code in device["pollutants"]:
        expected, received, valid = _counts_of(counts, int(device["id"]), code)
        limit = applicable_limit(conn, pollutant=code, device_id=device["id"], at=start)
        intervals, over, mean, maximum = _judge(conn, device["id"], code, limit, start, end)
        rows.append(ComplianceRow(
            device["mn"], device["point_name_zh"], device["point_name_en"],
            names.get(code) or PollutantInfo(code, code, code, ""), limit, expected, received, valid,
            measures.transmission_rate(received, expected), measures.validity_rate(valid, received),
            intervals, over, mean, maximum,
        ))
    return rows


def _judge(
    conn: psycopg.Connection, device_id: int, pollutant: str, limit: LimitFacts | None, start: datetime, end: datetime
) -> tuple[int, int, float | None, float | None]:
    """Valid values on the limit's basis, how many lie outside the limit, their mean and maximum."""
    basis = limit.basis if limit else "day"
    if basis == "instant":
        upper = limit.upper if limit and limit.direction in ("upper", "range") else None
        lower = limit.lower if limit and limit.direction in ("lower", "range") else None
        params = {"device": device_id, "pollutant": pollutant, "start": start, "end": end, "upper": upper,
                  "lower": lower}
        row = conn.execute(_INSTANT_SQL, params).fetchone()
        assert row is not None
        return int(row[0]), int(row[1] or 0), _float(row[2]), _float(row[3])
    width: Width = "hour" if basis == "hour" else "day"
    values = [
        m.mean for m in interval_means(conn, device_id, pollutant, width, start, end)
        if m.mean is not None and measures.is_valid_interval(pollutant, m.valid_count, m.flag)
    ]
    over = sum(1 for v in values if measures.is_over_limit(v, limit))
    mean = sum(values) / len(values) if values else None
    return len(values), over, mean, max(values, default=None)


def _counts_of(counts: dict[tuple[int, str], Counts], device_id: int, code: str) -> tuple[int, int, int]:
    c = counts.get((device_id, code), Counts(0, 0, 0))
    return c.expected, c.received, c.valid


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _alerts(conn: psycopg.Connection, site_id: int, start: datetime, end: datetime) -> tuple[EarlierAlert, ...]:
    rows = conn.execute(_ALERTS_SQL, (site_id, start, end)).fetchall()
    names = pollutant_names(conn, list({r[1] for r in rows}))
    return tuple(EarlierAlert(r[0], names.get(r[1]) or PollutantInfo(r[1], r[1], r[1], ""), *r[2:]) for r in rows)
