"""The pages people use: overview, plant, alert queue and detail (with actions), device health, reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from alerts.people import DISPOSITIONS, load_answers, load_attachments
from alerts.reports.view import latest_report
from dashboard import alert_queue
from dashboard.access import can
from dashboard.deps import BadRequest, Conn, CsrfSessionDep, FormDep, NotFound, SessionDep, utc_now
from dashboard.device_health import (
    PAGE_SIZES,
    SORTS,
    STATUSES,
    HealthQuery,
    load_device_health,
    parse_health_query,
)
from dashboard.enterprise_file import ENFORCEMENT_KINDS, ENFORCEMENT_STATUSES, load_file
from dashboard.incident import alert_lines
from dashboard.overview import draw_order, load_overview, map_positions
from dashboard.plant import load_plant
from dashboard.render import page
from dashboard.repeat import ALERT_ACTIONS, alert_notice
from dashboard.report_view import report_response
from dashboard.series import RANGES
from envmon.domain import SEVERITIES

router = APIRouter(include_in_schema=False)
MAP_WIDTH, MAP_HEIGHT, MAP_MARGIN = 900.0, 560.0, 40.0
# The catalogue section and code naming a map tile's status.
STATUS_WORD = {"alarm": ("severity", "exceedance"), "warning": ("severity", "warning"), "fault": ("severity", "fault"),
               "ok": ("page", "status_ok")}
# The catalogue key naming each device-health sort key.
SORT_LABELS = {"plant": "plant", "device": "device", "last_seen": "last_seen", "transmission": "transmission",
               "validity": "validity", "alerts": "open_alerts"}
STATUS_LABELS = {"all": "all", "offline": "offline", "online": "online", "alerting": "open_alerts"}


@router.get("/")
def overview(request: Request, conn: Conn, session: SessionDep) -> Response:
    """Every plant on the district map, coloured by its worst open alert and device health."""
    data = load_overview(conn, session.user, now=utc_now())
    positions = map_positions(data["plants"], width=MAP_WIDTH, height=MAP_HEIGHT, margin=MAP_MARGIN)
    return page(request, "overview.html", session, data=data, positions=positions,
                tiles_in_draw_order=draw_order(data["plants"]), status_word=STATUS_WORD,
                map_width=MAP_WIDTH, map_height=MAP_HEIGHT)


@router.get("/plants/{code}")
def plant(request: Request, conn: Conn, session: SessionDep, code: str, error: str | None = None) -> Response:
    """A plant's devices with their latest values, live charts, and its enterprise file."""
    data = load_plant(conn, session.user, code, now=utc_now())
    if data is None:
        raise NotFound(code)
    file = load_file(conn, data["site"]["id"], now=utc_now())
    return page(request, "plant.html", session, data=data, ranges=list(RANGES), file=file, error=error,
                enforcement_kinds=ENFORCEMENT_KINDS, enforcement_statuses=ENFORCEMENT_STATUSES)


def _filters(
    severity: str | None, state: str | None, district: str | None, site: str | None
) -> alert_queue.QueueFilter:
    if state not in (None, "", "active", "any", *alert_queue.STATES):
        raise BadRequest("state")
    return alert_queue.QueueFilter(
        severity=severity or None, state=None if state == "any" else (state or "active"),
        district=district or None, site=site or None,
    )


@router.get("/alerts")
def alerts(
    request: Request, conn: Conn, session: SessionDep, severity: str | None = None, state: str | None = None,
    district: str | None = None, site: str | None = None,
) -> Response:
    """The alert queue with its filters."""
    f = _filters(severity, state, district, site)
    rows = alert_queue.list_alerts(conn, session.user, f)
    return page(request, "alerts.html", session, rows=rows, f=f, states=alert_queue.STATES,
                severities=SEVERITIES, api_query=api_query(f))


def api_query(f: alert_queue.QueueFilter) -> str:
    """The /api/alerts query string of the page's filters (the live refresh asks for the same rows)."""
    given = {"severity": f.severity, "state": f.state or "any", "district": f.district, "site": f.site}
    return urlencode({k: v for k, v in given.items() if v})


@router.get("/alerts/{alert_id}")
def alert_detail(request: Request, conn: Conn, session: SessionDep, alert_id: int) -> Response:
    """One alert: timeline, notifications and their delivery, the report, and the actions the role allows."""
    detail = alert_queue.load_alert_detail(conn, session.user, alert_id)
    if detail is None:
        raise NotFound(alert_id)
    dispositions = [d for d in DISPOSITIONS if d != "enforcement_case" or can(session.user.role, "alert.enforce")]
    category = detail["alert"]["category"]
    answers = load_answers(conn, alert_id)
    # An action refused by the alert's state (a second click, a stale page): say what happened instead.
    refused = request.query_params.get("error")
    notice = alert_notice(refused, detail["alert"], detail["events"], answers) if refused in ALERT_ACTIONS else None
    return page(request, "alert.html", session, d=detail, dispositions=dispositions,
                lines=alert_lines(conn, session.user, detail["alert"], now=utc_now()),
                chosen_disposition=alert_queue.default_disposition(category),
                disposition_key=lambda dsp: alert_queue.disposition_label(dsp, category),
                may_act=can(session.user.role, "alert.act"), notice=notice,
                answers=answers, answer_files=load_attachments(conn, alert_id))


def _act(alert_id: int, refused: str | None = None) -> RedirectResponse:
    """Back to the alert; `refused` names an action its state did not allow (the page says what happened)."""
    suffix = f"?error={refused}" if refused else ""
    return RedirectResponse(f"/alerts/{alert_id}{suffix}", status_code=303)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(conn: Conn, session: CsrfSessionDep, form: FormDep, alert_id: int) -> Response:
    """Acknowledge with a disposition and an optional note."""
    return _run(lambda: alert_queue.acknowledge(
        conn, session.user, alert_id, disposition=form.get("disposition", ""), note=form.get("note"), now=utc_now()
    ), alert_id, "acknowledge")


@router.post("/alerts/{alert_id}/note")
def note(conn: Conn, session: CsrfSessionDep, form: FormDep, alert_id: int) -> Response:
    """Add a note to the timeline."""
    return _run(lambda: alert_queue.add_note(conn, session.user, alert_id, note=form.get("note", ""), now=utc_now()),
                alert_id, "note")


@router.post("/alerts/{alert_id}/resolve")
def resolve(conn: Conn, session: CsrfSessionDep, form: FormDep, alert_id: int) -> Response:
    """Resolve by hand."""
    return _run(lambda: alert_queue.resolve(conn, session.user, alert_id, reason=form.get("reason", ""), now=utc_now()),
                alert_id, "resolve")


def _run(action: Callable[[], None], alert_id: int, name: str) -> Response:
    try:
        alert_queue.take_action(action, alert_id)
    except alert_queue.ActionConflict:
        return _act(alert_id, name)
    return _act(alert_id)


@router.get("/alerts/{alert_id}/report")
def alert_report(
    request: Request, conn: Conn, session: SessionDep, alert_id: int,
    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html", locale: str | None = None,
) -> Response:
    """The newest stored report of an alert the user may see."""
    if alert_queue.load_alert_row(conn, session.user, alert_id) is None:
        raise NotFound(alert_id)
    report = latest_report(conn, alert_id, locale=locale or session.locale)
    if report is None:
        return page(request, "message.html", session, status_code=404, message_key="no_report")
    return report_response(report, format)


@router.get("/health")
def health(request: Request, conn: Conn, session: SessionDep) -> Response:
    """Device health across the user's plants (or one plant): filtered, sorted, grouped, one page at a time."""
    try:
        q = parse_health_query(request.query_params)
    except ValueError as exc:
        raise BadRequest("health query") from exc
    data = load_device_health(conn, session.user, now=utc_now(), query=q)
    return page(request, "health.html", session, data=data, q=q, site=q.site, sorts=SORTS, statuses=STATUSES,
                page_sizes=PAGE_SIZES, sort_labels=SORT_LABELS, status_labels=STATUS_LABELS,
                health_link=lambda **change: health_link(q, **change))


def health_link(q: HealthQuery, **change: object) -> str:
    """The /health URL of the query with some fields changed (sort headers, pager)."""
    values: dict[str, object] = {
        "site": q.site, "q": q.search, "status": q.status, "sort": q.sort, "dir": "desc" if q.descending else "",
        "page": q.page, "per_page": q.per_page, "group": "1" if q.group else ""}
    values.update(change)
    defaults = {"status": "all", "sort": "plant", "page": 1, "per_page": 50}
    return "/health?" + urlencode({k: v for k, v in values.items() if v and defaults.get(k) != v})
