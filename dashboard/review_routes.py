"""Data review and validity KPI routes: pages (/review, /kpi, /kpi.csv) and their JSON API (/api/review, /api/kpi)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel, Field

from dashboard.access import can
from dashboard.deps import (
    BadRequest,
    Conflict,
    Conn,
    CsrfSessionDep,
    Forbidden,
    FormDep,
    NotFound,
    SessionDep,
    app_state,
    utc_now,
)
from dashboard.kpi import KpiRow, kpi_csv, load_kpis
from dashboard.render import page, security_headers
from dashboard.repeat import mark_notice
from dashboard.review import MarkResult, ReviewRefused, decide_mark, list_marks, propose_mark
from dashboard.sessions import Session
from envmon.review import REASONS, Decision, MarkRequest

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["review"])
NO_NUL = r"^[^\x00]*$"
MONTH = r"^\d{4}-\d{2}$"
# Refusals that are about the mark's state (409); the rest are about the input (400).
STATE_REFUSALS = frozenset({"review_own_mark", "review_not_pending", "review_not_open", "review_overlap"})
DECIDED_REFUSALS = frozenset({"review_not_pending", "review_not_open"})  # the mark was decided meanwhile
ERROR_KEYS = STATE_REFUSALS | {"review_bad_reason", "review_bad_evidence", "review_bad_period", "review_future",
                               "review_bad_pollutant", "review_needs_note"}


class MarkBody(BaseModel):
    """A proposed mark (times with their offset)."""

    device_mn: Annotated[str, Field(max_length=64, pattern=NO_NUL)]
    pollutant: Annotated[str | None, Field(max_length=16, pattern=NO_NUL)] = None
    start_at: AwareDatetime
    end_at: AwareDatetime
    reason: Literal["maintenance", "calibration", "device_fault", "invalid"]
    evidence: Annotated[str, Field(min_length=1, max_length=2000, pattern=NO_NUL)]


class DecisionBody(BaseModel):
    """Why the mark is approved, rejected or withdrawn."""

    note: Annotated[str, Field(min_length=1, max_length=2000, pattern=NO_NUL)]


def _month(value: str | None) -> date:
    if not value:
        return utc_now().date().replace(day=1)
    try:
        return date.fromisoformat(value + "-01")
    except ValueError as exc:
        raise BadRequest("month") from exc


@pages.get("/review")
def review_page(request: Request, conn: Conn, session: SessionDep, site: str | None = None,
                error: str | None = None, done: str | None = None, mark: int | None = None) -> Response:
    """The marks on the user's plants, the form to propose one, and the decisions the role allows."""
    marks = list_marks(conn, session.user, site=site or None)
    role = session.user.role
    # A decision on a mark already decided (a second click, a stale page): say who decided it and when.
    decided = [m for m in marks if m["id"] == mark] if error in DECIDED_REFUSALS else []
    return page(request, "review.html", session, marks=marks, site=site, reasons=REASONS,
                may_review=can(role, "data.review"), may_approve=can(role, "data.approve"),
                error=error if error in ERROR_KEYS else None, done=done,
                notice=mark_notice(decided[0]) if decided else None)


@pages.post("/review")
def propose_form(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep) -> Response:
    """Propose a mark from the form (times in local time)."""
    try:
        req = MarkRequest(form.get("device_mn", ""), form.get("pollutant") or None,
                          _local(request, form.get("start_at", "")), _local(request, form.get("end_at", "")),
                          form.get("reason", ""), form.get("evidence", ""))
    except ValueError:
        return RedirectResponse("/review?error=review_bad_period", status_code=303)
    return _page_step(lambda: propose_mark(conn, session.user, req, now=utc_now()), req.device_mn)


@pages.post("/review/{mark_id}/{decision}")
def decide_form(conn: Conn, session: CsrfSessionDep, form: FormDep, mark_id: int, decision: str) -> Response:
    """Approve, reject or withdraw a mark from its row's form."""
    if decision not in ("approve", "reject", "withdraw"):
        raise NotFound(decision)
    return _page_step(lambda: decide_mark(conn, session.user, mark_id, decision,  # type: ignore[arg-type]
                                          note=form.get("note", ""), now=utc_now()), mark_id, mark=mark_id)


def _run_step(step: Any, key: object) -> MarkResult:
    """The step's result; NotFound for an unknown mark or device, Forbidden for a refusal by role or scope."""
    try:
        result: MarkResult = step()
    except LookupError as exc:
        raise NotFound(key) from exc
    except ReviewRefused as exc:
        if exc.key == "forbidden":
            raise Forbidden(exc.key) from exc
        raise
    return result


def _page_step(step: Any, key: object, *, mark: int | None = None) -> Response:
    try:
        result = _run_step(step, key)
    except ReviewRefused as exc:
        which = f"&mark={mark}" if mark is not None else ""
        return RedirectResponse(f"/review?error={exc.key}{which}", status_code=303)
    return RedirectResponse(f"/review?done={result.state}", status_code=303)


def _local(request: Request, value: str) -> datetime:
    """A datetime-local field, read in the configured zone."""
    return datetime.fromisoformat(value).replace(tzinfo=app_state(request).settings.zone)


def _kpi_rows(request: Request, conn: Conn, session: Session, month: str | None) -> tuple[date, list[KpiRow]]:
    """The first day of the asked month (default this one) and its KPI rows in the user's scope."""
    first = _month(month)
    return first, load_kpis(conn, session.user, month=first, zone=app_state(request).settings.timezone, now=utc_now())


@pages.get("/kpi")
def kpi_page(request: Request, conn: Conn, session: SessionDep,
             month: Annotated[str | None, Query(pattern=MONTH)] = None) -> Response:
    """Transmission, validity and effective transmission rates of the month per district, plant and device."""
    first, rows = _kpi_rows(request, conn, session, month)
    return page(request, "kpi.html", session, rows=rows, month=first.strftime("%Y-%m"))


@pages.get("/kpi.csv")
def kpi_export(request: Request, conn: Conn, session: SessionDep,
               month: Annotated[str | None, Query(pattern=MONTH)] = None) -> Response:
    """The same rows as CSV (UTF-8 with a byte order mark, so spreadsheets read the Chinese names)."""
    first, rows = _kpi_rows(request, conn, session, month)
    name = f"validity-{first.strftime('%Y-%m')}.csv"
    return Response("\ufeff" + kpi_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={**security_headers(), "Content-Disposition": f'attachment; filename="{name}"'})


@api.get("/kpi")
def kpi_api(request: Request, conn: Conn, session: SessionDep,
            month: Annotated[str | None, Query(pattern=MONTH)] = None) -> list[dict[str, Any]]:
    """The month's KPI rows (rates as fractions, null where undefined)."""
    first, rows = _kpi_rows(request, conn, session, month)
    data: list[dict[str, Any]] = jsonable_encoder(rows)
    return data


@api.get("/review/marks")
def marks_api(conn: Conn, session: SessionDep, site: Annotated[str | None, Query(max_length=100)] = None,
              ) -> list[dict[str, Any]]:
    """The newest marks on the user's plants with their events."""
    data: list[dict[str, Any]] = jsonable_encoder(list_marks(conn, session.user, site=site))
    return data


@api.post("/review/marks")
def propose_api(conn: Conn, session: CsrfSessionDep, body: MarkBody) -> MarkResult:
    """Propose a mark (needs the X-CSRF-Token header); pending when it covers an exceedance."""
    req = MarkRequest(body.device_mn, body.pollutant, body.start_at, body.end_at, body.reason, body.evidence)
    return _api_step(lambda: propose_mark(conn, session.user, req, now=utc_now()), body.device_mn)


@api.post("/review/marks/{mark_id}/{decision}")
def decide_api(conn: Conn, session: CsrfSessionDep, mark_id: int, decision: Decision, body: DecisionBody) -> MarkResult:
    """Approve, reject or withdraw a mark."""
    return _api_step(lambda: decide_mark(conn, session.user, mark_id, decision, note=body.note, now=utc_now()),
                     mark_id)


def _api_step(step: Any, key: object) -> MarkResult:
    try:
        return _run_step(step, key)
    except ReviewRefused as exc:
        raise (Conflict(exc.key) if exc.key in STATE_REFUSALS else BadRequest(exc.key)) from exc
