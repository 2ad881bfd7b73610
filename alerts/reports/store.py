"""Reports in the `reports` table: each generation is a new version (HTML and PDF).

Inspection reports (per alert: draft, then final when it resolves) and daily/monthly compliance reports
(per plant and period, final).

Versions count per alert and locale. Generation holds a transaction-scoped advisory lock on the alert,
so an escalation arriving while the opening report renders waits for it instead of taking its number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from alerts.reports.compliance import KINDS, gather_compliance, last_complete_period
from alerts.reports.errors import ReportError
from alerts.reports.facts import DEFAULT_ZONE, gather
from alerts.reports.render_html import ReportMeta, render_compliance_html, render_html
from alerts.reports.render_pdf import render_pdf
from envmon.words import LOCALES

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
    """Gather, render (HTML and PDF) and store a new version of the alert's report; returns its id.

    Runs in its own transaction, committed at the end, when the connection has none open (give it a
    connection of its own, e.g. from the pool, in the background thread); inside a caller's transaction
    it is a savepoint and the caller commits.

    reason says why this version exists (open, escalation, resolved, manual ...); final marks the
    version made when the alert resolved.
    """
    if locale not in LOCALES:
        raise ReportError(f"locale must be one of {', '.join(LOCALES)}, not {locale!r}")
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


def generate_compliance_report(
    conn: psycopg.Connection,
    site_code: str,
    kind: str,
    day: date,
    *,
    locale: str,
    now: datetime,
    zone: str = DEFAULT_ZONE,
    reason: str = "manual",
) -> int:
    """Store a new version of a plant's daily or monthly compliance report (the period containing `day`); commits."""
    if locale not in LOCALES:
        raise ReportError(f"locale must be one of {', '.join(LOCALES)}, not {locale!r}")
    with conn.transaction():
        facts = gather_compliance(conn, site_code, kind, day, now=now, zone=zone)
        site_id = facts.plant.site_id
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, -_lock_key(site_id)))
        version = _next_compliance_version(conn, site_id, kind, facts.period_start, locale)
        html = render_compliance_html(facts, locale=locale, zone=ZoneInfo(zone), version=version)
        row = conn.execute(
            "INSERT INTO reports (site_id, kind, version, locale, status, html, pdf, generated_at, reason,"
            " period_start, period_end) VALUES (%s, %s, %s, %s, 'final', %s, %s, %s, %s, %s, %s) RETURNING id",
            (site_id, kind, version, locale, html, render_pdf(html), now, reason, facts.period_start, facts.period_end),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _next_compliance_version(conn: psycopg.Connection, site_id: int, kind: str, start: date, locale: str) -> int:
    row = conn.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM reports WHERE alert_id IS NULL AND site_id = %s AND kind = %s"
        " AND period_start = %s AND locale = %s",
        (site_id, kind, start, locale),
    ).fetchone()
    assert row is not None
    return int(row[0])


def due_compliance_reports(
    conn: psycopg.Connection, *, now: datetime, zone: str = DEFAULT_ZONE, locales: tuple[str, ...] = ("zh-CN",)
) -> list[tuple[str, str, date, str]]:
    """The scheduled reports still missing: (site code, kind, period start, locale) for yesterday's daily and
    last month's monthly report of every active plant."""
    due: list[tuple[str, str, date, str]] = []
    for kind in KINDS:
        start, _ = last_complete_period(kind, now, zone)
        for locale in locales:
            missing = conn.execute(
                "SELECT s.code FROM sites s WHERE s.active AND NOT EXISTS (SELECT 1 FROM reports r WHERE"
                " r.alert_id IS NULL AND r.site_id = s.id AND r.kind = %s AND r.period_start = %s AND r.locale = %s)"
                " ORDER BY s.code",
                (kind, start, locale),
            ).fetchall()
            due += [(code, kind, start, locale) for (code,) in missing]
    return due


def generate_due_compliance_reports(
    conn: psycopg.Connection, *, now: datetime, zone: str = DEFAULT_ZONE, locales: tuple[str, ...] = ("zh-CN",)
) -> list[int]:
    """The schedule: every missing scheduled report, made now.

    Idempotent, so a timer may call it as often as it likes (every 10 minutes, say); returns the new report ids.
    """
    due = due_compliance_reports(conn, now=now, zone=zone, locales=locales)
    conn.commit()
    return [
        generate_compliance_report(conn, code, kind, start, locale=locale, now=now, zone=zone, reason="schedule")
        for code, kind, start, locale in due
    ]
