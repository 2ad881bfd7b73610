"""Routes of a plant's enterprise file: document download and upload, enforcement records, permit limits.

Reads need the plant in the user's scope; enforcement records and uploads are an inspector's act
(`alert.enforce`), permit limits an administrator's. Uploads are the raw file as the request body
(no multipart parser), read up to the size limit and checked by content (dashboard/documents.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from dashboard.access import Action, User
from dashboard.admin_routes import reason
from dashboard.admin_store import AdminError
from dashboard.deps import BadRequest, Conn, CsrfSessionDep, FormDep, NotFound, SessionDep, check_csrf, require, utc_now
from dashboard.documents import MAX_DOCUMENT_BYTES, document_response, store_document
from dashboard.enterprise_file import (
    NewEnforcement,
    NewPermit,
    NewPermitLimit,
    add_enforcement,
    add_permit,
    find_site,
    load_document,
    set_permit_limit,
)
from dashboard.sessions import Session

router = APIRouter(include_in_schema=False)


def _number(value: str | None) -> float | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise BadRequest("not a number") from exc


def _back(code: str, error: str | None = None) -> RedirectResponse:
    query = f"?{urlencode({'error': error})}" if error else ""
    return RedirectResponse(f"/plants/{code}{query}#file", status_code=303)


def _acting_on(conn: Conn, session: Session, code: str, action: Action) -> tuple[User, int]:
    """The user, when allowed `action`, and the id of plant `code` in their scope; Forbidden or NotFound otherwise."""
    user = require(session, action)
    site = find_site(conn, user, code)
    if site is None:
        raise NotFound(code)
    return user, int(site["id"])


def _form_step(code: str, step: Callable[[], object], locale: str,
               refusals: tuple[type[Exception], ...] = (AdminError, ValueError)) -> RedirectResponse:
    """Run one write of a plant-file form and go back to the file, with the refusal's text (in the user's
    language) when refused."""
    try:
        step()
    except refusals as exc:
        return _back(code, reason(exc, locale))
    return _back(code)


@router.get("/plants/{code}/documents/{document_id}")
def document(conn: Conn, session: SessionDep, code: str, document_id: int) -> Response:
    """A stored document of a plant the user may see, as a download."""
    found = load_document(conn, session.user, code, document_id)
    if found is None:
        raise NotFound(str(document_id))
    return document_response(*found)


async def bounded_body(request: Request) -> bytes:
    """The request body, refused as soon as it passes the size limit (never read whole into memory first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
        raise AdminError("admin_error_document_large", mib=MAX_DOCUMENT_BYTES // (1024 * 1024))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DOCUMENT_BYTES:
            raise AdminError("admin_error_document_large", mib=MAX_DOCUMENT_BYTES // (1024 * 1024))
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/plants/{code}/documents")
async def upload(request: Request, conn: Conn, session: SessionDep, code: str,
                 filename: Annotated[str, Query(max_length=512)],
                 category: Annotated[str, Query(max_length=32)] = "other") -> Response:
    """Store one PDF, PNG or JPEG (the body) in the plant's file; the CSRF token comes as X-CSRF-Token."""
    check_csrf(request, session, {})
    user, site_id = _acting_on(conn, session, code, "alert.enforce")
    try:
        content = await bounded_body(request)
        doc_id = store_document(conn, site_id=site_id, category=category, name=filename, content=content,
                                actor=user.username, now=utc_now())
    except AdminError as exc:
        return JSONResponse({"detail": exc.words(session.locale)}, status_code=422)
    return JSONResponse({"id": doc_id}, status_code=201)


@router.post("/plants/{code}/enforcement")
def enforcement(conn: Conn, session: CsrfSessionDep, form: FormDep, code: str) -> Response:
    """Record an enforcement case against the plant."""
    user, site_id = _acting_on(conn, session, code, "alert.enforce")

    def step() -> None:
        rec = NewEnforcement(
            decided_on=date.fromisoformat(form.get("decided_on", "")), kind=form.get("kind", ""),
            case_number=form.get("case_number", ""), penalty_yuan=_number(form.get("penalty_yuan")),
            status=form.get("status", ""), summary=form.get("summary") or None)
        add_enforcement(conn, site_id, rec, actor=user.username, now=utc_now())
    return _form_step(code, step, session.locale)


@router.post("/plants/{code}/permits")
def permit(conn: Conn, session: CsrfSessionDep, form: FormDep, code: str) -> Response:
    """Create or update a permit of the plant and one outlet with the devices standing at it."""
    user, site_id = _acting_on(conn, session, code, "admin")

    def step() -> None:
        new = NewPermit(
            number=form.get("number", ""), issued_by=form.get("issued_by") or None,
            valid_from=date.fromisoformat(form.get("valid_from", "")),
            valid_to=date.fromisoformat(form.get("valid_to", "")), outlet=form.get("outlet", ""),
            outlet_name_zh=form.get("outlet_name_zh", ""), outlet_name_en=form.get("outlet_name_en", ""),
            device_mns=tuple(m for m in form.get("devices", "").replace(",", " ").split() if m))
        add_permit(conn, site_id, new, actor=user.username, now=utc_now())
    return _form_step(code, step, session.locale)


@router.post("/plants/{code}/permit-limits")
def permit_limit(conn: Conn, session: CsrfSessionDep, form: FormDep, code: str) -> Response:
    """Set a permitted limit on an outlet of the plant's permit; the limits in force follow at once."""
    user, site_id = _acting_on(conn, session, code, "admin")
    lim = NewPermitLimit(
        permit_number=form.get("permit", ""), outlet=form.get("outlet", ""), pollutant=form.get("pollutant", ""),
        basis=form.get("basis", "day"), lower_value=_number(form.get("lower")), upper_value=_number(form.get("upper")))
    # Only the store's refusals go back to the form: the limit's fields were checked above (BadRequest).
    return _form_step(code, lambda: set_permit_limit(conn, site_id, lim, actor=user.username, now=utc_now()),
                      session.locale, refusals=(AdminError,))
