"""What people's tools read of reports: an alert's newest stored version, and the page a signed SMS link opens.

The dashboard and the alert service's own HTTP endpoint both serve `/r/{token}`; this is the one copy of
that logic, and the only reports module the dashboard imports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import psycopg

from alerts.reports.errors import LinkError, LinkExpired, LinkInvalid, LinkRevoked
from alerts.reports.links import check_report_link, link_locale, sibling_link
from alerts.reports.render_html import with_link_bar
from alerts.reports.store import StoredReport, latest_report

__all__ = [
    "LinkError", "LinkExpired", "LinkInvalid", "LinkRevoked", "LinkedReport", "StoredReport", "latest_report",
    "open_report_link",
]


@dataclass(frozen=True, slots=True)
class LinkedReport:
    """The report a link opens, in the link's language; None while it is being prepared."""

    locale: str
    report: StoredReport | None


def open_report_link(
    conn: psycopg.Connection, secret: str, token: str, *, lang: str | None, now: datetime,
    act_prefix: str | None = None,
) -> LinkedReport:
    """The newest report behind a signed link; its HTML carries a bar linking its PDF and the other language.

    `lang` picks the language only for a version 1 link (it names none). `act_prefix` + the alert id, when
    given, is where a person acts on the alert (the dashboard's alert page). Raises LinkError (LinkInvalid,
    LinkExpired, LinkRevoked) when the link opens nothing.
    """
    link = check_report_link(conn, secret, token, now=now)
    locale = link_locale(link, lang)
    report = latest_report(conn, link.alert_id, locale=locale)
    if report is None or report.html is None:
        return LinkedReport(locale, None)
    other = sibling_link(secret, link, "en" if locale == "zh-CN" else "zh-CN")
    pdf = f"/r/{token}?format=pdf" if report.pdf is not None else None
    act = f"{act_prefix}{link.alert_id}" if act_prefix else None
    html = with_link_bar(report.html, locale=locale, pdf_href=pdf, other_href=f"/r/{other}", act_href=act)
    return LinkedReport(locale, replace(report, html=html))
