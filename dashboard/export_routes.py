"""Export pages: the form, and the download (CSV or XLSX) streamed from its own pooled connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from dashboard.access import User, scope_clause
from dashboard.deps import BadRequest, Conn, NotFound, SessionDep, app_state
from dashboard.export import (
    COLUMNS,
    KINDS,
    ExportError,
    ExportKind,
    ExportTarget,
    export_query,
    headers,
    is_target_visible,
    parse_range,
)
from dashboard.export_files import csv_chunks, xlsx_chunks
from dashboard.render import page, security_headers
from envmon.words import text

router = APIRouter(include_in_schema=False)
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/exports")
def export_form(request: Request, conn: Conn, session: SessionDep) -> Response:
    """The export form: what, for which plant, device or district, over which days, in which format."""
    return page(request, "exports.html", session, kinds=KINDS, choices=load_choices(conn, session.user,
                                                                                    locale=session.locale))


def load_choices(conn: Conn, user: User, *, locale: str) -> dict[str, list[tuple[str, str]]]:
    """The plants and districts the user may export, as (code, name) pairs."""
    scope, params = scope_clause(user, "s")
    name = "name_en" if locale == "en" else "name_zh"
    plants = conn.execute(f"SELECT s.code, s.{name} FROM sites s WHERE {scope} ORDER BY s.code", params).fetchall()
    districts = conn.execute(
        f"SELECT DISTINCT t.code, t.{name} FROM sites s JOIN districts t ON t.code = s.district WHERE {scope}"
        " ORDER BY t.code", params).fetchall()
    return {"plants": [(r[0], r[1]) for r in plants], "districts": [(r[0], r[1]) for r in districts]}


@router.get("/exports/download")
def export_download(
    request: Request, conn: Conn, session: SessionDep,
    kind: Annotated[str, Query(pattern="^(readings|hourly|daily|alerts|notifications)$")],
    start: str, end: str, format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
    site: str | None = None, device: str | None = None, district: str | None = None,
) -> Response:
    """One export file, streamed; 404 when the plant, device or district is not the user's."""
    settings = app_state(request).settings
    try:
        begin, finish = parse_range(start, end, settings.zone)
        target = ExportTarget(site or None, device or None, district or None, begin, finish)
        visible = is_target_visible(conn, session.user, target)
    except ExportError as exc:
        raise BadRequest(str(exc)) from exc
    if not visible:
        raise NotFound("export target")
    export_kind: ExportKind = kind  # type: ignore[assignment]  # checked by the pattern above
    return _stream(request, session.user, target, export_kind, format, locale=session.locale)


def _stream(request: Request, user: User, target: ExportTarget, kind: ExportKind, fmt: str, *,
            locale: str) -> StreamingResponse:
    state = app_state(request)
    zone = state.settings.timezone
    sql, params = export_query(user, target, kind, locale=locale, zone=zone)
    names = headers(kind, locale=locale, zone=zone)

    def body() -> Iterator[bytes]:
        # Its own connection: the request's goes back to the pool when the route returns, before the body is sent.
        with state.pool.connection() as conn:
            if fmt == "xlsx":
                yield from xlsx_chunks(conn, sql, params, COLUMNS[kind], names, text(locale, f"page.export_{kind}"))
            else:
                yield from csv_chunks(conn, sql, params, COLUMNS[kind], names)

    name = file_name(target, kind, fmt, state.settings.zone)
    return StreamingResponse(body(), media_type=MEDIA[fmt], headers={
        **security_headers(), "Content-Disposition": f'attachment; filename="{name}"'})


def file_name(target: ExportTarget, kind: str, fmt: str, zone: ZoneInfo) -> str:
    """envmon-<kind>-<target>-<first local day>-<day after the last>.<fmt>, from codes only (safe in a header)."""
    what = "-".join(v for v in (target.district, target.site, target.device) if v)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in what)
    first, after = target.start.astimezone(zone), target.end.astimezone(zone)
    return f"envmon-{kind}-{safe}-{first:%Y%m%d}-{after:%Y%m%d}.{fmt}"
