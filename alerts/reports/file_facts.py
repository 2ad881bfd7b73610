"""The enterprise file's part of an inspection report (issue 19): permit, recent enforcement, this outlet's past.

The report names the permit the plant holds at the first breach and whether the limit in force
comes from it, the enforcement records of the last twelve months, and the earlier exceedances of
the same device and pollutant over the last twelve months.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

LOOKBACK = timedelta(days=365)
SHOWN = 20


@dataclass(frozen=True, slots=True)
class PermitFacts:
    """The permit valid at the first breach and whether the limit in force is its own."""

    number: str
    valid_from: date
    valid_to: date
    limit_from_permit: bool


@dataclass(frozen=True, slots=True)
class EnforcementFacts:
    """One enforcement record of the plant."""

    decided_on: date
    kind: str
    case_number: str
    penalty_yuan: Decimal | None
    status: str


@dataclass(frozen=True, slots=True)
class PastExceedance:
    """An earlier exceedance of the same device and pollutant."""

    code: str
    opened_at: datetime
    severity: str
    peak_value: float | None
    limit_source: str | None
    disposition: str | None


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What the report shows of the plant's enterprise file."""

    permit: PermitFacts | None
    enforcement: tuple[EnforcementFacts, ...]
    past_exceedances: tuple[PastExceedance, ...]


_PERMIT = """
SELECT p.number, p.valid_from, p.valid_to, coalesce(l.permit_id = p.id, false) AS limit_from_permit
FROM permits p LEFT JOIN limits l ON l.id = %(limit_id)s
WHERE p.site_id = %(site_id)s AND p.valid_from <= %(day)s AND p.valid_to >= %(day)s
ORDER BY limit_from_permit DESC, p.valid_from DESC LIMIT 1
"""
_ENFORCEMENT = """
SELECT decided_on, kind, case_number, penalty_yuan, status FROM enforcement_records
WHERE site_id = %(site_id)s AND decided_on >= %(since)s ORDER BY decided_on DESC, id DESC LIMIT %(shown)s
"""
_PAST = """
SELECT a.code, a.opened_at, a.severity, a.peak_value, l.source AS limit_source, a.disposition
FROM alerts a LEFT JOIN limits l ON l.id = a.limit_id
WHERE a.device_id = %(device_id)s AND a.pollutant = %(pollutant)s AND a.id <> %(alert_id)s
  AND a.category = 'pollution' AND a.severity IN ('exceedance', 'severe')
  AND a.opened_at >= %(since)s AND a.opened_at < %(at)s
ORDER BY a.opened_at DESC LIMIT %(shown)s
"""


def gather_file(conn: psycopg.Connection, *, alert_id: int, site_id: int, device_id: int, pollutant: str,
                limit_id: int | None, at: datetime, day: date) -> FileFacts:
    """The file facts of one alert: `at` its first breach, `day` that breach's local calendar day."""
    params = {"alert_id": alert_id, "site_id": site_id, "device_id": device_id, "pollutant": pollutant,
              "limit_id": limit_id, "at": at, "day": day, "since": at - LOOKBACK, "shown": SHOWN}
    with conn.cursor(row_factory=dict_row) as cur:
        permit = cur.execute(_PERMIT, params).fetchone()
        enforcement = cur.execute(_ENFORCEMENT, {**params, "since": day - LOOKBACK}).fetchall()
        past = cur.execute(_PAST, params).fetchall()
    return FileFacts(
        permit=PermitFacts(**permit) if permit else None,
        enforcement=tuple(EnforcementFacts(**r) for r in enforcement),
        past_exceedances=tuple(PastExceedance(**r) for r in past),
    )
