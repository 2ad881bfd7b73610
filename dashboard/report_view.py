"""Serving stored reports, and the public page behind a report link in an SMS (`/r/{token}`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from alerts.reports.view import LinkExpired, LinkInvalid, LinkRevoked, StoredReport, open_report_link
from dashboard.deps import Conn, app_state, utc_now
from dashboard.render import page, security_headers
from envmon.words import pick_locale

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
    """The report a signed link opens, in the link's language, with links to its PDF and the other language.

    `lang` chooses the language of a refusal page, and the report's only for a version 1 link (no language).
    """
    state = app_state(request)
    secret = state.settings.require_secret()
    locale = pick_locale(lang, state.settings.locale)
    try:
        # The inspector's path from the SMS: the report, then the alert page to act (after signing in).
        linked = open_report_link(conn, secret, token, lang=lang, now=utc_now(), act_prefix="/alerts/")
    except LinkExpired:
        return _refusal(request, "link_expired", locale, 410)
    except LinkRevoked:
        return _refusal(request, "link_revoked", locale, 410)
    except LinkInvalid:
        return _refusal(request, "link_invalid", locale, 404)
    if linked.report is None:
        return _refusal(request, "no_report", linked.locale, 404)
    return report_response(linked.report, format)
