"""The JSON API (described in /api/openapi.json) and the live event stream (/api/events, Server-Sent Events)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from alerts.people import Disposition
from dashboard import alert_queue
from dashboard.deps import (
    BadRequest,
    Conflict,
    Conn,
    CsrfSessionDep,
    NotFound,
    SessionDep,
    app_state,
    current_session,
    optional_session,
    utc_now,
)
from dashboard.device_health import load_device_health, parse_health_query
from dashboard.events import EventHub
from dashboard.incident import load_incident_series
from dashboard.overview import load_overview
from dashboard.plant import load_plant
from dashboard.series import RANGES, load_series
from dashboard.sessions import Session
from envmon.domain import Severity
from envmon.numbers import display_value

router = APIRouter(prefix="/api", tags=["api"])
KEEPALIVE_SECONDS = 15.0
StateFilter = Literal["active", "any", "open", "escalated", "acknowledged", "resolved", "closed"]
SeverityFilter = Severity
RangeName = Literal["1h", "24h", "7d", "30d", "365d"]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
# Measured values and limits that people read: rounded by envmon.numbers (the pages' and reports' rule).
# Coordinates, ages and ids are not measurements and keep their precision.
PEOPLE_VALUES = frozenset({
    "value", "upper_value", "lower_value", "warning_value", "level2_upper_value", "level2_lower_value",
    "peak_value", "last_value", "limit_value",
})
SERIES_VALUES = ("avg", "min", "max")
Text = Annotated[str, Field(max_length=2000, pattern=NO_NUL)]


class AcknowledgeBody(BaseModel):
    """An acknowledgement: the disposition and an optional note."""

    disposition: Disposition
    note: Text | None = None


class NoteBody(BaseModel):
    """A note for the alert's timeline."""

    note: Annotated[str, Field(min_length=1, max_length=2000, pattern=NO_NUL)]


class ResolveBody(BaseModel):
    """Why the alert is resolved by hand."""

    reason: Text = "resolved_by_hand"


class Done(BaseModel):
    """The alert after an action."""

    id: int
    state: str


@router.get("/me")
def me(session: SessionDep) -> dict[str, Any]:
    """The signed-in user, their scope and the CSRF token for state changes."""
    u = session.user
    return {"username": u.username, "role": u.role, "districts": list(u.districts), "site_codes": list(u.site_codes),
            "locale": session.locale, "csrf_token": session.csrf_token}


@router.get("/overview")
def overview(conn: Conn, session: SessionDep) -> dict[str, Any]:
    """Plant tiles and open alert counts by severity."""
    data: dict[str, Any] = jsonable_encoder(load_overview(conn, session.user, now=utc_now()))
    return data


@router.get("/alerts")
def alerts(
    conn: Conn, session: SessionDep, severity: SeverityFilter | None = None, state: StateFilter = "active",
    district: Annotated[str | None, Query(max_length=100)] = None,
    site: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    """The alert queue, newest first (at most 500)."""
    f = alert_queue.QueueFilter(
        severity=severity, state=None if state == "any" else state, district=district, site=site
    )
    rows: list[dict[str, Any]] = for_people(jsonable_encoder(alert_queue.list_alerts(conn, session.user, f)))
    return rows


@router.get("/alerts/{alert_id}")
def alert(conn: Conn, session: SessionDep, alert_id: int) -> dict[str, Any]:
    """An alert with its timeline, notifications and report versions."""
    detail = alert_queue.load_alert_detail(conn, session.user, alert_id)
    if detail is None:
        raise NotFound(alert_id)
    data: dict[str, Any] = for_people(jsonable_encoder(detail))
    return data


def _done(conn: Conn, session: CsrfSessionDep, alert_id: int, action: Any) -> Done:
    try:
        alert_queue.take_action(action, alert_id)
    except alert_queue.ActionConflict as exc:
        raise Conflict(str(exc)) from exc
    row = alert_queue.load_alert_row(conn, session.user, alert_id)
    if row is None:
        raise NotFound(alert_id)
    return Done(id=alert_id, state=row["state"])


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(conn: Conn, session: CsrfSessionDep, alert_id: int, body: AcknowledgeBody) -> Done:
    """Acknowledge with a disposition (needs the X-CSRF-Token header)."""
    return _done(conn, session, alert_id, lambda: alert_queue.acknowledge(
        conn, session.user, alert_id, disposition=body.disposition, note=body.note, now=utc_now()))


@router.post("/alerts/{alert_id}/note")
def note(conn: Conn, session: CsrfSessionDep, alert_id: int, body: NoteBody) -> Done:
    """Add a note to the timeline."""
    return _done(conn, session, alert_id,
                 lambda: alert_queue.add_note(conn, session.user, alert_id, note=body.note, now=utc_now()))


@router.post("/alerts/{alert_id}/resolve")
def resolve(conn: Conn, session: CsrfSessionDep, alert_id: int, body: ResolveBody) -> Done:
    """Resolve by hand."""
    return _done(conn, session, alert_id,
                 lambda: alert_queue.resolve(conn, session.user, alert_id, reason=body.reason, now=utc_now()))


@router.get("/alerts/{alert_id}/series")
def alert_series(conn: Conn, session: SessionDep, alert_id: int) -> dict[str, Any]:
    """The readings around an alert's breach and its limit's lines (the alert page's chart)."""
    data = load_incident_series(conn, session.user, alert_id, now=utc_now())
    if data is None:
        raise NotFound(alert_id)
    out: dict[str, Any] = {**data, "value": [display_value(v) for v in data["value"]]}
    return out


@router.get("/plants/{code}")
def plant(conn: Conn, session: SessionDep, code: str) -> dict[str, Any]:
    """A plant and its devices' latest values with unit, limit, flag and age."""
    data = load_plant(conn, session.user, code, now=utc_now())
    if data is None:
        raise NotFound(code)
    out: dict[str, Any] = for_people(jsonable_encoder(data))
    return out


@router.get("/plants/{code}/series")
def series(
    conn: Conn, session: SessionDep, code: str, device_id: Annotated[int, Query(ge=1, le=2_147_483_647)],
    pollutant: Annotated[str, Query(max_length=16)], range: RangeName = "24h",
    periods_back: Annotated[int, Query(ge=0, le=12)] = 0,
) -> dict[str, Any]:
    """A chart series (avg/min/max per bucket) from the aggregate that serves the range.

    periods_back shifts the range into the past by whole ranges: the chart's "compare with the period before".
    """
    if range not in RANGES:
        raise BadRequest("range")
    end = utc_now() - RANGES[range].span * periods_back
    data = load_series(conn, session.user, site=code, device_id=device_id, pollutant=pollutant, range_name=range,
                       now=end)
    if data is None:
        raise NotFound(code)
    return rounded_series(data)


@router.get("/health")
def health(
    request: Request, conn: Conn, session: SessionDep, site: Annotated[str | None, Query(max_length=100)] = None
) -> dict[str, Any]:
    """Device health (one page: the page's filters, sort and paging apply) and recent quarantined messages."""
    try:
        q = parse_health_query(request.query_params)
    except ValueError as exc:
        raise BadRequest("health query") from exc
    data: dict[str, Any] = jsonable_encoder(load_device_health(conn, session.user, now=utc_now(), query=q))
    return data


def for_people(data: Any) -> Any:
    """The JSON with every measured value or limit (PEOPLE_VALUES keys, at any depth) rounded for people."""
    if isinstance(data, list):
        return [for_people(item) for item in data]
    if not isinstance(data, dict):
        return data
    return {
        key: display_value(value) if key in PEOPLE_VALUES and isinstance(value, float) else for_people(value)
        for key, value in data.items()
    }


def rounded_series(data: dict[str, Any]) -> dict[str, Any]:
    """A chart series with avg/min/max rounded by the same rule (4 significant digits are finer than a pixel)."""
    return {key: [display_value(v) for v in value] if key in SERIES_VALUES else value for key, value in data.items()}


def _stream_session(request: Request) -> Session:
    with app_state(request).pool.connection() as conn:
        return current_session(optional_session(request, conn))


def _still_signed_in(request: Request) -> bool:
    with app_state(request).pool.connection() as conn:
        return optional_session(request, conn) is not None


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request) -> StreamingResponse:
    """Server-Sent Events: `alert` and `readings` events about the user's plants."""
    # The session is checked with a connection of its own: a request dependency would hold one from the pool
    # for as long as the stream is open.
    session = await asyncio.to_thread(_stream_session, request)
    hub: EventHub = request.app.state.hub
    sub = hub.subscribe(session.user)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n: connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    # A stream outlives its request: end it once the session is gone (logout, disabled, expired).
                    if not await asyncio.to_thread(_still_signed_in, request):
                        return
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    return
                yield f"event: {event['kind']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
        finally:
            hub.unsubscribe(sub)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
