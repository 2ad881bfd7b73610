"""Inspection reports in the `reports` table: each generation is a new version (HTML and PDF), draft or final.

Versions count per alert and locale. Generation holds a transaction-scoped advisory lock on the alert,
so an escalation arriving while the opening report renders waits for it instead of taking its number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from alerts.reports.facts import DEFAULT_ZONE, gather
from alerts.reports.render_html import ReportMeta, render_html
from alerts.reports.render_pdf import render_pdf
from alerts.reports.text import LOCALES

# First key of the two-key advisory locks on reports (second key: the alert id).
LOCK_NAMESPACE = 0x52505254  # "RPRT"
_COLUMNS = "id, alert_id, site_id, kind, version, locale, status, reason, generated_at, revoked_at"


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One stored version; html and pdf are None when listed without content."""

    id: int
    alert_id: int | None
    site_id: int | None
    kind: str
    version: int
    locale: str
    status: str
    reason: str
    generated_at: datetime
    revoked_at: datetime | None
    html: str | None = None
    pdf: bytes | None = None


def generate_report(
    conn: psycopg.Connection,
    alert_id: int,
    *,
    locale: str,
    now: datetime,
    final: bool = False,
    reason: str = "update",
    zone: str = DEFAULT_ZONE,
) -> int:
    """Gather, render (HTML and PDF) and store a new version of the alert's report; commits and returns its id.

    reason says why this version exists (open, escalation, resolved, manual ...); final marks the
    version made when the alert resolved.
    """
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {', '.join(LOCALES)}, not {locale!r}")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, _lock_key(alert_id)))
        version = _next_version(conn, alert_id, locale)
        facts = gather(conn, alert_id, now=now, zone=zone)
        html = render_html(facts, locale=locale, zone=ZoneInfo(zone), meta=ReportMeta(version, final))
        pdf = render_pdf(html)
        row = conn.execute(
            "INSERT INTO reports (alert_id, site_id, kind, version, locale, status, html, pdf, generated_at, reason)"
            " VALUES (%s, %s, 'inspection', %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (alert_id, facts.plant.site_id, version, locale, "final" if final else "draft", html, pdf, now, reason),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _lock_key(alert_id: int) -> int:
    """The alert id folded into PostgreSQL's int4 lock key space."""
    return alert_id % 2_147_483_647


def _next_version(conn: psycopg.Connection, alert_id: int, locale: str) -> int:
    row = conn.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM reports WHERE alert_id = %s AND locale = %s", (alert_id, locale)
    ).fetchone()
    assert row is not None
    return int(row[0])


def latest_report(conn: psycopg.Connection, alert_id: int, *, locale: str) -> StoredReport | None:
    """The newest version of the alert's report in a locale, with its HTML and PDF."""
    row = conn.execute(
        f"SELECT {_COLUMNS}, html, pdf FROM reports WHERE alert_id = %s AND locale = %s"
        " ORDER BY version DESC LIMIT 1",
        (alert_id, locale),
    ).fetchone()
    return None if row is None else _stored(row)


def load_report(conn: psycopg.Connection, report_id: int) -> StoredReport | None:
    """One stored version by id, with its HTML and PDF."""
    row = conn.execute(f"SELECT {_COLUMNS}, html, pdf FROM reports WHERE id = %s", (report_id,)).fetchone()
    return None if row is None else _stored(row)


def report_versions(conn: psycopg.Connection, alert_id: int) -> list[StoredReport]:
    """The version history of an alert's report (every locale), oldest first, without content."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM reports WHERE alert_id = %s ORDER BY version, locale", (alert_id,)
    ).fetchall()
    return [_stored(r) for r in rows]


def _stored(row: tuple[Any, ...]) -> StoredReport:
    html = row[10] if len(row) > 10 else None
    pdf = row[11] if len(row) > 11 else None
    return StoredReport(
        id=row[0],
        alert_id=row[1],
        site_id=row[2],
        kind=row[3],
        version=row[4],
        locale=row[5],
        status=row[6],
        reason=row[7],
        generated_at=row[8],
        revoked_at=row[9],
        html=html if isinstance(html, str) else None,
        pdf=bytes(pdf) if isinstance(pdf, bytes | memoryview) else None,
    )
