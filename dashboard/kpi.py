"""Monthly validity KPIs per device, plant and district for the bureau, scoped to the user's plants."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from dashboard.access import User, scope_clause
from envmon.validity import Counts, Kpis, kpis, roll_up
from envmon.validity_store import gather_counts

CSV_COLUMNS = ("level", "key", "name_zh", "name_en", "expected", "received", "valid", "transmission_rate",
               "validity_rate", "effective_transmission_rate")


@dataclass(frozen=True, slots=True)
class KpiRow:
    """One device, plant or district with its counts and rates."""

    level: str  # device, plant or district
    key: str
    name_zh: str
    name_en: str
    counts: Counts
    rates: Kpis


def month_bounds(month: date, zone: str, now: datetime) -> tuple[datetime, datetime]:
    """The local calendar month containing `month` as UTC-aware bounds, cut at `now` while it runs."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    tz = ZoneInfo(zone)
    start = datetime.combine(first, datetime.min.time(), tz)
    return start, min(datetime.combine(following, datetime.min.time(), tz), max(now, start))


def load_kpis(conn: psycopg.Connection, user: User, *, month: date, zone: str, now: datetime) -> list[KpiRow]:
    """Districts, then plants, then devices (each level sorted by key) in the user's scope."""
    start, end = month_bounds(month, zone, now)
    scope, params = scope_clause(user, "s")
    series = gather_counts(conn, start=start, end=end, where=scope, params=params)
    names: dict[tuple[str, str], tuple[str, str]] = {}
    for s in series:
        d = s.device
        names[("device", d["mn"])] = (d["point_name_zh"], d["point_name_en"])
        names[("plant", d["site_code"])] = (d["site_name_zh"], d["site_name_en"])
        names[("district", d["district"])] = (d["district_zh"], d["district_en"])
    keyed = [(("district", s.device["district"]), s.counts) for s in series]
    keyed += [(("plant", s.device["site_code"]), s.counts) for s in series]
    keyed += [(("device", s.device["mn"]), s.counts) for s in series]
    return [KpiRow(level, key, *names[(level, key)], c, kpis(c)) for (level, key), c in roll_up(keyed).items()]


def kpi_csv(rows: list[KpiRow]) -> str:
    """The rows as CSV (rates as fractions with four decimals, empty where undefined)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        rates = (r.rates.transmission_rate, r.rates.validity_rate, r.rates.effective_transmission_rate)
        writer.writerow([r.level, _safe(r.key), _safe(r.name_zh), _safe(r.name_en), r.counts.expected,
                         r.counts.received, r.counts.valid, *("" if v is None else f"{v:.4f}" for v in rates)])
    return out.getvalue()


def _safe(text: str) -> str:
    """Defuse spreadsheet formulas in names people typed (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
