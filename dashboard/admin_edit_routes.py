"""The administration edit pages: a device, recipient, escalation chain or limit, each on a page of its own with a
labelled form; a refused change shows the page again with the reason and what was typed. Admins only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dashboard.admin_edit import ChainEdit, DeviceEdit, RecipientEdit, edit_chain, edit_device, edit_recipient
from dashboard.admin_forms import Kind, as_form, read_one
from dashboard.admin_limits import LimitEdit, edit_limit, end_limit
from dashboard.admin_routes import chain_categories, form_text, number, reason, words
from dashboard.admin_store import DEVICE_KINDS, POINT_KINDS
from dashboard.deps import Conn, CsrfSessionDep, FormDep, NotFound, SessionDep, app_state, require, utc_now
from dashboard.errors import DashboardError
from dashboard.render import page
from dashboard.repeat import AlreadyDone
from dashboard.sessions import Session

router = APIRouter(prefix="/admin", include_in_schema=False)
ANCHORS: dict[Kind, str] = {"devices": "devices", "recipients": "recipients", "chains": "chains", "limits": "limits"}


def _page(request: Request, conn: Conn, session: Session, kind: Kind, key: str, *, status_code: int = 200,
          typed: dict[str, str] | None = None, error: str | None = None) -> Response:
    require(session, "admin")
    try:
        row = read_one(conn, kind, key)
    except LookupError as exc:
        raise NotFound(key) from exc
    values = as_form(row) if typed is None else {**_untyped(row), **typed}
    return page(request, "admin_edit.html", session, status_code=status_code, kind=kind, key=key, row=row,
                values=values, error=error, device_kinds=DEVICE_KINDS, point_kinds=POINT_KINDS)


def _untyped(row: dict[str, Any]) -> dict[str, str]:
    """A row's fields without its stored categories: a form sent back says itself which boxes were ticked."""
    return {k: v for k, v in as_form(row).items() if not k.startswith("category_")}


def _save(request: Request, conn: Conn, session: Session, kind: Kind, key: str, form: dict[str, str],
          change: Callable[[str], object]) -> Response:
    """Run the change as `change(actor)`; back to the list, or the page again with the reason (400)."""
    user = require(session, "admin")
    try:
        change(user.username)
    except LookupError as exc:
        raise NotFound(key) from exc
    except (DashboardError, ValueError) as exc:  # ValueError: a number field that does not parse
        typed = {k: v for k, v in form.items() if k != "csrf_token"}
        # 409: the row changed meanwhile (a stale page; the notice says by whom and when); 400: what was typed
        return _page(request, conn, session, kind, key, status_code=409 if isinstance(exc, AlreadyDone) else 400,
                     typed=typed, error=reason(exc, session.locale, app_state(request).settings.zone))
    return RedirectResponse(f"/admin#{ANCHORS[kind]}", status_code=303)


@router.get("/{kind}/{key}/edit")
def edit_page(request: Request, conn: Conn, session: SessionDep, kind: Kind, key: str) -> Response:
    """The edit page of one device, recipient, chain or limit."""
    return _page(request, conn, session, kind, key)


@router.post("/devices/{mn}/edit")
def change_device(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, mn: str) -> Response:
    """A device's point, pollutants and reporting interval (validated as on registration)."""
    return _save(request, conn, session, "devices", mn, form, lambda actor: edit_device(conn, mn, DeviceEdit(
        point_kind=form.get("point_kind", ""), point_name_zh=form_text(form, "point_name_zh"),
        point_name_en=form_text(form, "point_name_en"), pollutants=words(form.get("pollutants", "")),
        reporting_interval_seconds=int(form.get("interval", "0") or 0)), actor=actor, now=utc_now()))


@router.post("/recipients/{code}/edit")
def change_recipient(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, code: str) -> Response:
    """A recipient's name, phone, SMS language and role."""
    return _save(request, conn, session, "recipients", code, form, lambda actor: edit_recipient(
        conn, code, RecipientEdit(name=form_text(form, "name"), phone=form_text(form, "phone"),
                                  locale=form.get("locale", ""), role=form_text(form, "role")),
        actor=actor, now=utc_now()))


@router.post("/chains/{code}/edit")
def change_chain(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, code: str) -> Response:
    """A chain's name, categories, steps and repeat interval."""
    return _save(request, conn, session, "chains", code, form, lambda actor: edit_chain(conn, code, ChainEdit(
        name=form_text(form, "name"), categories=chain_categories(form), steps_text=form.get("steps", ""),
        repeat_interval_seconds=int(form.get("repeat", "0") or 0)), actor=actor, now=utc_now()))


@router.post("/limits/{limit_id}/edit")
def change_limit(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, limit_id: int) -> Response:
    """A limit's values: a limit in force ends now and a new version holds the new values."""
    return _save(request, conn, session, "limits", str(limit_id), form, lambda actor: edit_limit(
        conn, limit_id, LimitEdit(direction=form.get("direction", ""), lower_value=number(form.get("lower")),
                                  upper_value=number(form.get("upper")), source=form_text(form, "source")),
        actor=actor, now=utc_now()))


@router.post("/limits/{limit_id}/end")
def finish_limit(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, limit_id: int) -> Response:
    """End a limit now (the row stays for the alerts judged against it)."""
    return _save(request, conn, session, "limits", str(limit_id), form,
                 lambda actor: end_limit(conn, limit_id, actor=actor, now=utc_now()))
