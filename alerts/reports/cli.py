"""`envmon report`: write an alert's inspection report (PDF or HTML) to a file, or a demo incident's report."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from alerts.reports.errors import ReportError
from envmon.db import connect
from envmon.settings import Settings

DESCRIPTION = """Write the inspection report of an alert as PDF or HTML.

  envmon report 42 --out report.pdf               the current report of alert 42 (id or code)
  envmon report K7QX2M --format html --locale en --out r.html
  envmon report 42 --stored --out r.pdf           the newest stored version instead
  envmon report --demo --out demo.pdf             a simulated Cr(VI) incident in the configured
                                                  database (migrated and loaded if needed), reported
  envmon report --site FX-EP-001 --daily 2026-11-21 --out d.pdf     a plant's daily compliance report
  envmon report --site FX-EP-001 --monthly 2026-10 --out m.pdf      ... or monthly (stored as well)
"""


def add_report_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `envmon report` to the CLI's sub-parsers; its handler is set as `handler`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="write an alert's inspection report (PDF or HTML)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("alert", nargs="?", metavar="ALERT_ID", help="alert id or code")
    parser.add_argument("--demo", action="store_true", help="build a simulated incident and report it")
    parser.add_argument("--format", choices=("pdf", "html"), help="default: from the --out suffix, else pdf")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the report")
    parser.add_argument("--locale", choices=("zh-CN", "en"), help="default: the configured locale")
    parser.add_argument("--stored", action="store_true", help="write the newest stored version, not a fresh one")
    parser.add_argument("--site", metavar="CODE", help="a plant's compliance report (with --daily or --monthly)")
    period = parser.add_mutually_exclusive_group()
    period.add_argument("--daily", type=date.fromisoformat, metavar="YYYY-MM-DD", help="the local day")
    period.add_argument("--monthly", type=_month, metavar="YYYY-MM", help="the calendar month")
    parser.set_defaults(handler=run_report)
    return parser


def _month(text: str) -> date:
    return date.fromisoformat(f"{text}-01")


def run_report(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of `envmon report`."""
    if [bool(args.alert), args.demo, bool(args.site)].count(True) != 1:
        raise ReportError("give one of ALERT_ID, --demo or --site CODE")
    if bool(args.site) != bool(args.daily or args.monthly):
        raise ReportError("--site needs --daily YYYY-MM-DD or --monthly YYYY-MM, and they need --site")
    fmt = args.format or ("html" if args.out.suffix.lower() in (".html", ".htm") else "pdf")
    locale = args.locale or settings.locale
    with connect(settings, application="envmon-report") as conn:
        if args.site:
            html, pdf = _compliance(conn, args, settings, locale)
            _write(args.out, html if fmt == "html" else pdf)
            print(f"{args.site}: compliance report ({locale}) written to {args.out}")
            return 0
        if args.demo:
            html, pdf, alert_id = _demo(conn, settings, locale)
        else:
            alert_id = _alert_id(conn, args.alert)
            stored = args.stored
            html, pdf = _stored(conn, alert_id, locale) if stored else _fresh(conn, alert_id, settings, locale, fmt)
    _write(args.out, html if fmt == "html" else pdf)
    print(f"alert {alert_id}: {fmt} report ({locale}) written to {args.out}")
    return 0


def _alert_id(conn: psycopg.Connection, text: str) -> int:
    """The id of an existing alert named by its id or its code; 'not found' for anything else."""
    from alerts.lifecycle import parse_alert_code

    key = text.strip()
    by_id = int(key) if key.isdigit() else parse_alert_code(key)
    row = conn.execute("SELECT id FROM alerts WHERE code = %s OR id = %s ORDER BY code = %s DESC LIMIT 1",
                       (key.upper(), by_id, key.upper())).fetchone()
    if row is None:
        raise ReportError(f"alert {key!r} not found (give an alert id or the 6-character code from the SMS)")
    return int(row[0])


def _fresh(
    conn: psycopg.Connection, alert_id: int, settings: Settings, locale: str, fmt: str
) -> tuple[str, bytes | None]:
    from alerts.reports.facts import gather
    from alerts.reports.render_html import render_html
    from alerts.reports.render_pdf import render_pdf

    facts = gather(conn, alert_id, now=datetime.now(UTC), zone=settings.timezone)
    html = render_html(facts, locale=locale, zone=ZoneInfo(settings.timezone))
    return html, (render_pdf(html) if fmt == "pdf" else None)


def _stored(conn: psycopg.Connection, alert_id: int, locale: str) -> tuple[str | None, bytes | None]:
    from alerts.reports.store import latest_report

    report = latest_report(conn, alert_id, locale=locale)
    if report is None:
        raise ReportError(f"alert {alert_id} has no stored {locale} report")
    return report.html, report.pdf


def _demo(conn: psycopg.Connection, settings: Settings, locale: str) -> tuple[str | None, bytes | None, int]:
    from alerts.reports.demo import Scenario, build_incident, ensure_registry
    from alerts.reports.store import generate_report, load_report
    from envmon.migrate import migrate
    from envmon.registry.store import sync_catalogue

    migrate(settings.require_database_url(), settings.migrations_dir, timescaledb=settings.timescaledb)
    sync_catalogue(conn)
    ensure_registry(conn)
    conn.commit()
    now = datetime.now(UTC)
    alert_id = build_incident(conn, Scenario(), now=now)
    report = load_report(conn, generate_report(conn, alert_id, locale=locale, now=now, reason="demo",
                                               zone=settings.timezone))
    assert report is not None
    return report.html, report.pdf, alert_id


def _compliance(
    conn: psycopg.Connection, args: argparse.Namespace, settings: Settings, locale: str
) -> tuple[str | None, bytes | None]:
    from alerts.reports.store import generate_compliance_report, load_report

    kind, day = ("daily", args.daily) if args.daily else ("monthly", args.monthly)
    report_id = generate_compliance_report(
        conn, args.site, kind, day, locale=locale, now=datetime.now(UTC), zone=settings.timezone
    )
    report = load_report(conn, report_id)
    assert report is not None
    return report.html, report.pdf


def _write(path: Path, content: str | bytes | None) -> None:
    if content is None:
        raise ReportError("that report has no content in this format")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
