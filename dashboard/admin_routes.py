"""The administration page: users and roles, devices (MQTT credentials shown once), maintenance windows,
recipients, plants, limits and escalation chains, each created, edited and deactivated here; the audit log.
Admins only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dashboard.access import ROLES
from dashboard.admin_edit import Entity, edit_plant, set_active
from dashboard.admin_registry import INDUSTRIES, NewLimit, add_chain, add_limit, add_plant
from dashboard.admin_store import (
    DEVICE_KINDS,
    POINT_KINDS,
    AdminError,
    NewDevice,
    add_device,
    add_maintenance,
    add_recipient,
    end_maintenance,
    load_admin_lists,
)
from dashboard.audit import list_audit
from dashboard.deps import Conn, CsrfSessionDep, FormDep, NotFound, SessionDep, app_state, require, utc_now
from dashboard.display import local_time
from dashboard.errors import DashboardError, Refused
from dashboard.passwords import generate_password
from dashboard.plant import Plant
from dashboard.render import page
from dashboard.repeat import AlreadyDone
from dashboard.sessions import Session
from dashboard.users import UserError, create_user, list_users, set_user_disabled, set_user_role
from envmon.registry.service import sync_device_logins
from envmon.words import text

UTC_ZONE = ZoneInfo("UTC")

router = APIRouter(prefix="/admin", include_in_schema=False)


def words(value: str) -> tuple[str, ...]:
    return tuple(w for w in value.replace(",", " ").split() if w)


def _apply(request: Request, conn: Conn, session: Session, anchor: str, change: Callable[[str], object]) -> Response:
    """Run an administrator's change as `change(actor)`; a refused one shows the page with the reason (400), a
    change of a row that does not exist answers 404."""
    user = require(session, "admin")
    try:
        change(user.username)
    except LookupError as exc:
        raise NotFound(str(exc)) from exc
    except AlreadyDone as exc:  # a second click or a stale page: what happened, by whom and when
        return _admin_page(request, conn, session, 409, error=reason(exc, session.locale, _zone(request)))
    except (DashboardError, ValueError) as exc:  # ValueError: a number or time field that does not parse
        return _admin_page(request, conn, session, 400, error=reason(exc, session.locale))
    return RedirectResponse(f"/admin#{anchor}", status_code=303)


def _zone(request: Request) -> ZoneInfo:
    return app_state(request).settings.zone


def reason(exc: Exception, locale: str, zone: ZoneInfo = UTC_ZONE) -> str:
    """Why a change was refused, in the user's language when the catalogue has its words (times in `zone`)."""
    if isinstance(exc, AlreadyDone):
        return exc.notice.words(locale, lambda value: local_time(value, zone))
    if isinstance(exc, Refused):
        return exc.words(locale)
    if isinstance(exc, ValueError):
        return text(locale, "page.admin_error_number")
    return str(exc)


def form_text(form: dict[str, str], key: str) -> str:
    """A form field, trimmed; empty when missing."""
    return form.get(key, "").strip()


def _admin_page(request: Request, conn: Conn, session: Session, status_code: int = 200, **extra: Any) -> Response:
    lists = load_admin_lists(conn, now=utc_now())
    return page(request, "admin.html", session, status_code=status_code, lists=lists, users=list_users(conn),
                industries=INDUSTRIES,
                audit=list_audit(conn), roles=ROLES, device_kinds=DEVICE_KINDS, point_kinds=POINT_KINDS,
                issued=extra.get("issued"), error=extra.get("error"))


@router.get("")
def admin(request: Request, conn: Conn, session: SessionDep) -> Response:
    """Everything an administrator manages."""
    require(session, "admin")
    return _admin_page(request, conn, session)


@router.post("/users")
def new_user(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep) -> Response:
    """Create a user; the generated password is shown once."""
    user = require(session, "admin")
    password = generate_password()
    username = form.get("username", "").strip().lower()
    try:
        create_user(conn, username=username, role=form.get("role", ""), password=password, actor=user.username,
                    now=utc_now(), districts=words(form.get("districts", "")),
                    site_codes=words(form.get("site_codes", "")), display_name=form.get("display_name") or None)
    except UserError as exc:
        return _admin_page(request, conn, session, 400, error=exc.words(session.locale))
    return _admin_page(request, conn, session, issued=(username, password))


@router.post("/users/{user_id}/role")
def change_role(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, user_id: int) -> Response:
    """Change a user's role and scope (not one's own: nobody locks themselves out)."""
    if user_id == require(session, "admin").id:
        return _admin_page(request, conn, session, 400, error="you cannot change your own role")
    return _apply(request, conn, session, "users", lambda actor: set_user_role(
        conn, user_id, role=form.get("role", ""), districts=words(form.get("districts", "")),
        site_codes=words(form.get("site_codes", "")), actor=actor, now=utc_now()))


def _plant_of(form: dict[str, str], code: str) -> Plant:
    return Plant(
        code=code.strip(), name_zh=form.get("name_zh", "").strip(), name_en=form.get("name_en", "").strip(),
        district=form.get("district", "").strip(), industry=form.get("industry", "").strip(),
        latitude=number(form.get("latitude")), longitude=number(form.get("longitude")),
    )


@router.post("/plants")
def new_plant(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep) -> Response:
    """A plant in an existing district."""
    return _apply(request, conn, session, "plants",
                  lambda actor: add_plant(conn, _plant_of(form, form_text(form, "code")), actor=actor, now=utc_now()))


@router.post("/plants/{code}/edit")
def change_plant(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, code: str) -> Response:
    """A plant's names, district, industry and position (validated as on creation)."""
    return _apply(request, conn, session, "plants",
                  lambda actor: edit_plant(conn, _plant_of(form, code), actor=actor, now=utc_now()))


@router.post("/{entity}/{key}/active")
def change_active(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep, entity: Entity,
                  key: str) -> Response:
    """Deactivate (active=0) or reactivate (active=1) a plant, device or recipient: history keeps the row."""
    user = require(session, "admin")
    try:
        set_active(conn, entity, key, active=form.get("active") == "1", actor=user.username, now=utc_now())
    except LookupError as exc:
        raise NotFound(key) from exc
    except AlreadyDone as exc:
        return _admin_page(request, conn, session, 409, error=reason(exc, session.locale, _zone(request)))
    if entity != "recipients":  # committed: a deactivated device (or a plant's devices) loses its broker login now
        sync_device_logins(conn, app_state(request).settings)
    return RedirectResponse(f"/admin#{ANCHORS[entity]}", status_code=303)


ANCHORS: dict[Entity, str] = {"sites": "plants", "devices": "devices", "recipients": "recipients"}


@router.post("/limits")
def new_limit(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep) -> Response:
    """A limit for a plant or one of its devices, in force from now."""
    return _apply(request, conn, session, "plants",
                  lambda actor: add_limit(conn, _limit_of(form), actor=actor, now=utc_now()))


def _limit_of(form: dict[str, str]) -> NewLimit:
    return NewLimit(site_code=form_text(form, "site"), device_mn=form_text(form, "device") or None,
                    pollutant=form_text(form, "pollutant"), basis=form.get("basis", ""),
                    direction=form.get("direction", ""), lower_value=number(form.get("lower")),
                    upper_value=number(form.get("upper")), source=form.get("source", ""))


def chain_categories(form: dict[str, str]) -> tuple[str, ...]:
    """The categories ticked on the form (category_<name>) and any typed in `categories` (the API's way)."""
    ticked = [key.removeprefix("category_") for key, value in form.items() if key.startswith("category_") and value]
    return tuple(dict.fromkeys([*words(form.get("categories", "")), *ticked]))


@router.post("/chains")
def new_chain(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep) -> Response:
    """An escalation chain (steps as RECIPIENT:DELAY_SECONDS, ...)."""
    return _apply(request, conn, session, "chains", lambda actor: add_chain(
        conn, code=form_text(form, "code"), name=form_text(form, "name"), categories=chain_categories(form),
        steps_text=form.get("steps", ""), repeat_interval_seconds=int(form.get("repeat", "0") or 0), actor=actor,
        now=utc_now()))


def number(text: str | None) -> float | None:
    """A decimal field; empty is None (ValueError for anything else that is not a finite number)."""
    if text is None or not text.strip():
        return None
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


@router.post("/users/{user_id}/disable")
def disable_user(request: Request, conn: Conn, session: CsrfSessionDep, user_id: int) -> Response:
    """Disable a user and end their sessions."""
    return _set_disabled(request, conn, session, user_id, True)


@router.post("/users/{user_id}/enable")
def enable_user(request: Request, conn: Conn, session: CsrfSessionDep, user_id: int) -> Response:
    """Enable a user again."""
    return _set_disabled(request, conn, session, user_id, False)


def _set_disabled(request: Request, conn: Conn, session: Session, user_id: int, disabled: bool) -> Response:
    user = require(session, "admin")
    if user_id == user.id and disabled:
        return RedirectResponse("/admin#users", status_code=303)  # nobody locks themselves out
    try:
        set_user_disabled(conn, user_id, disabled, actor=user.username, now=utc_now())
    except AlreadyDone as exc:
        return _admin_page(request, conn, session, 409, error=reason(exc, session.locale, _zone(request)))
    except UserError:
        pass  # no such user (deleted meanwhile): the list shows what there is
    return RedirectResponse("/admin#users", status_code=303)


def _local(request: Request, value: str) -> datetime:
    """A datetime-local field, read in the configured zone."""
    return datetime.fromisoformat(value).replace(tzinfo=app_state(request).settings.zone)


@router.post("/maintenance")
def new_window(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep) -> Response:
    """A maintenance window (times entered in local time)."""
    return _apply(request, conn, session, "maintenance", lambda actor: add_maintenance(
        conn, site_code=form.get("site", ""), device_mn=form.get("device") or None,
        starts_at=_local(request, form.get("starts_at", "")), ends_at=_local(request, form.get("ends_at", "")),
        reason=form.get("reason", ""), actor=actor, now=utc_now()))


@router.post("/maintenance/{window_id}/end")
def end_window(request: Request, conn: Conn, session: CsrfSessionDep, window_id: int) -> Response:
    """End a maintenance window now."""
    user = require(session, "admin")
    try:
        end_maintenance(conn, window_id, actor=user.username, now=utc_now())
    except AlreadyDone as exc:
        return _admin_page(request, conn, session, 409, error=reason(exc, session.locale, _zone(request)))
    except AdminError as exc:
        return _admin_page(request, conn, session, 404, error=exc.words(session.locale))
    return RedirectResponse("/admin#maintenance", status_code=303)


@router.post("/recipients")
def new_recipient(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep) -> Response:
    """A recipient of SMS."""
    return _apply(request, conn, session, "recipients", lambda actor: add_recipient(
        conn, code=form_text(form, "code"), name=form_text(form, "name"), phone=form_text(form, "phone"),
        locale=form.get("locale", "zh-CN"), role=form_text(form, "role"), actor=actor, now=utc_now()))


@router.post("/devices")
def new_device(request: Request, conn: Conn, session: CsrfSessionDep, form: FormDep) -> Response:
    """Register an MQTT device; its broker password is shown once."""
    user = require(session, "admin")
    try:
        device = NewDevice(
            site_code=form.get("site", ""), mn=form_text(form, "mn"), kind=form.get("kind", ""),
            point_kind=form.get("point_kind", ""), point_name_zh=form_text(form, "point_name_zh"),
            point_name_en=form_text(form, "point_name_en"), pollutants=words(form.get("pollutants", "")),
            reporting_interval_seconds=int(form.get("interval", "0") or 0),
        )
        password = add_device(conn, app_state(request).settings, device, actor=user.username, now=utc_now())
    except (DashboardError, ValueError) as exc:
        return _admin_page(request, conn, session, 400, error=reason(exc, session.locale))
    return _admin_page(request, conn, session, issued=(device.mn, password))
