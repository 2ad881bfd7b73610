"""The plant's answer: the public form behind the signed SMS link (`/a/{token}`), and the inspector's decision.

The form needs no account: the token is the credential, bound to one request of one alert, and the
page shows that alert's facts only. Its POST must come from our own origin. The inspector accepts an
answer or asks again from the alert page (`alert.act` and the alert in scope).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from psycopg.rows import dict_row

from alerts.people import (
    AnswerLink,
    AnswerLinkExpired,
    AnswerLinkInvalid,
    AnswerRefused,
    PlantAnswer,
    add_attachment,
    answer_policy,
    decide_answer,
    load_attachment,
    load_attachments,
    read_answer_link,
    submit_answer,
)
from dashboard import alert_queue
from dashboard.admin_store import AdminError
from dashboard.deps import (
    Conn,
    CsrfSessionDep,
    FormDep,
    NotFound,
    SessionDep,
    app_state,
    require,
    same_origin,
    utc_now,
)
from dashboard.documents import check_document, document_response
from dashboard.file_routes import bounded_body
from dashboard.render import page
from envmon.words import pick_locale, text

router = APIRouter(include_in_schema=False)

# Only what the plant needs to answer: which alert, where, what, since when, against which limit.
_FACTS = """
SELECT a.code, a.pollutant, a.severity, a.opened_at, a.peak_value, s.name_zh, s.name_en, d.point_name_zh,
       d.point_name_en, coalesce(p.name_zh, a.pollutant) AS pollutant_zh, coalesce(p.name_en, a.pollutant)
       AS pollutant_en, p.canonical_unit AS unit, a.limit_value, l.source AS limit_source,
       r.state AS request_state, r.deadline_at
FROM answer_requests r JOIN alerts a ON a.id = r.alert_id JOIN devices d ON d.id = a.device_id
JOIN sites s ON s.id = d.site_id LEFT JOIN pollutants p ON p.code = a.pollutant LEFT JOIN limits l ON l.id = a.limit_id
WHERE r.id = %s AND r.alert_id = %s
"""


def _locale(request: Request) -> str:
    """The public pages' language: `?lang=`, else the site's."""
    return pick_locale(request.query_params.get("lang"), app_state(request).settings.locale)


def _check(request: Request, token: str) -> AnswerLink | Response:
    locale = _locale(request)
    try:
        return read_answer_link(app_state(request).settings.require_secret(), token, utc_now())
    except AnswerLinkExpired:
        return page(request, "message.html", None, status_code=410, locale=locale, message_key="link_expired")
    except AnswerLinkInvalid:
        return page(request, "message.html", None, status_code=404, locale=locale, message_key="link_invalid")


def _facts(conn: Conn, link: AnswerLink) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_FACTS, (link.request_id, link.alert_id)).fetchone()


def _form(request: Request, facts: dict[str, Any], *, status_code: int = 200, error: str | None = None,
          done: bool = False) -> Response:
    return page(request, "answer.html", None, status_code=status_code, locale=_locale(request), f=facts, error=error,
                done=done or facts["request_state"] != "waiting", attachments=facts.get("attachments", []))


@router.get("/a/{token}")
def answer_form(request: Request, conn: Conn, token: str) -> Response:
    """The phone form of one request: the alert's facts, and cause, measures, expected recovery."""
    link = _check(request, token)
    if isinstance(link, Response):
        return link
    facts = _facts(conn, link)
    if facts is None:
        raise NotFound("request")
    return _form(request, {**facts, "attachments": load_attachments(conn, link.alert_id)})


@router.post("/a/{token}/attachments")
async def answer_attachment(request: Request, conn: Conn, token: str,
                            filename: Annotated[str, Query(max_length=512)]) -> Response:
    """Attach a PDF, PNG or JPEG (the body) to the submitted answer of this link's round."""
    link = _check(request, token)
    if isinstance(link, Response):
        return link
    if not same_origin(request):
        raise NotFound("request")
    try:
        content = await bounded_body(request)
        doc = check_document(filename, content)
        file_id = add_attachment(conn, alert_id=link.alert_id, request_id=link.request_id, filename=doc.filename,
                                 content_type=doc.content_type, sha256=doc.sha256, content=content, now=utc_now())
    except AdminError as exc:  # in the language of the page it came from (upload.js sends it)
        return JSONResponse({"detail": exc.words(_locale(request))}, status_code=422)
    except AnswerRefused as exc:
        return JSONResponse({"detail": text(_locale(request), f"page.{exc.key}")}, status_code=422)
    return JSONResponse({"id": file_id}, status_code=201)


@router.get("/alerts/{alert_id}/answer-files/{file_id}")
def answer_file(conn: Conn, session: SessionDep, alert_id: int, file_id: int) -> Response:
    """A file the plant attached to its answer, for people who may see the alert."""
    found = None
    if alert_queue.load_alert_row(conn, session.user, alert_id) is not None:
        found = load_attachment(conn, alert_id, file_id)
    if found is None:
        raise NotFound(str(file_id))
    return document_response(*found)


@router.post("/a/{token}")
def answer_submit(request: Request, conn: Conn, token: str, form: FormDep) -> Response:
    """Record the plant's answer (once per round)."""
    link = _check(request, token)
    if isinstance(link, Response):
        return link
    facts = _facts(conn, link)
    if facts is None or not same_origin(request):
        raise NotFound("request")
    zone = ZoneInfo(app_state(request).settings.timezone)
    try:
        recovery = datetime.fromisoformat(form.get("expected_recovery_at", ""))
        recovery = recovery.replace(tzinfo=zone) if recovery.tzinfo is None else recovery
        answer = PlantAnswer(form.get("cause", ""), form.get("measures", ""), recovery)
        submit_answer(conn, alert_id=link.alert_id, request_id=link.request_id, answer=answer, now=utc_now(),
                      client=request.client.host if request.client else None)
    except AnswerRefused as exc:
        return _form(request, facts, status_code=422, error=text(_locale(request), f"page.{exc.key}"))
    except ValueError:  # the phone's date field sent something that is not a date and time
        return _form(request, facts, status_code=422, error=text(_locale(request), "page.answer_bad_recovery"))
    return _form(request, {**facts, "request_state": "answered"}, done=True)


def _decide(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, alert_id: int,
            accept: bool) -> Response:
    user = require(session, "alert.act")
    if alert_queue.load_alert_row(conn, user, alert_id) is None:
        raise NotFound(str(alert_id))
    try:
        decide_answer(conn, answer_policy(app_state(request).settings), alert_id=alert_id, accept=accept,
                      actor=user.username, note=form.get("note", "")[:2000], now=utc_now())
    except AnswerRefused:  # already decided (a second click, a stale page): the alert page says by whom and when
        action = "answer_accept" if accept else "answer_ask_again"
        return RedirectResponse(f"/alerts/{alert_id}?error={action}", status_code=303)
    return RedirectResponse(f"/alerts/{alert_id}#answers", status_code=303)


@router.post("/alerts/{alert_id}/answer/accept")
def answer_accept(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, alert_id: int) -> Response:
    """Accept the plant's answer."""
    return _decide(request, conn, session, form, alert_id, True)


@router.post("/alerts/{alert_id}/answer/ask-again")
def answer_ask_again(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, alert_id: int) -> Response:
    """Ask the plant again: a new round with a new deadline and SMS."""
    return _decide(request, conn, session, form, alert_id, False)
