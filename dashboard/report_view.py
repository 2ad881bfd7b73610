"""Serving stored reports, and the public page behind a report link in an SMS (`/r/{token}`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from alerts.reports.errors import LinkExpired, LinkInvalid, LinkRevoked
from alerts.reports.links import check_report_link
from alerts.reports.store import StoredReport, latest_report
from dashboard.deps import Conn, app_state, utc_now
from dashboard.i18n import pick_locale
from dashboard.render import page, security_headers

router = APIRouter(include_in_schema=False)
# A report's HTML is our own rendering, but it is shown in a sandbox anyway: no scripts, no forms.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; sandbox"


def report_response(report: StoredReport, fmt: str) -> Response:
    """The stored HTML (sandboxed) or PDF of a report version."""
    if fmt == "pdf" and report.pdf is not None:
        name = f"report-{report.alert_id}-v{report.version}-{report.locale}.pdf"
        headers = {"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"}
        return Response(report.pdf, media_type="application/pdf", headers=headers)
    headers = {**security_headers(), "Content-Security-Policy": REPORT_CSP}
    return HTMLResponse(report.html or "", headers=headers)


def _refusal(request: Request, key: str, locale: str, status_code: int) -> Response:
    return page(request, "message.html", None, status_code=status_code, locale=locale, message_key=key)


@router.get("/r/{token}")
def report_link(
    request: Request, conn: Conn, token: str, format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html",
    lang: str | None = None,
) -> Response:
    """The report a signed link opens; a clear page for a tampered, expired or revoked link."""
    state = app_state(request)
    locale = pick_locale(lang, state.settings.locale)
    try:
        link = check_report_link(conn, state.settings.require_secret(), token, now=utc_now())
    except LinkExpired:
        return _refusal(request, "link_expired", locale, 410)
    except LinkRevoked:
        return _refusal(request, "link_revoked", locale, 410)
    except LinkInvalid:
        return _refusal(request, "link_invalid", locale, 404)
    report = latest_report(conn, link.alert_id, locale=locale) or latest_report(
        conn, link.alert_id, locale="en" if locale == "zh-CN" else "zh-CN")
    if report is None:
        return _refusal(request, "no_report", locale, 404)
    return report_response(report, format)
