"""Server-rendered pages: the Jinja2 environment (autoescaped) and the context every page gets."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from dashboard.access import can
from dashboard.deps import app_state, utc_now
from dashboard.display import age_text, local_time
from dashboard.sessions import Session
from envmon.numbers import format_number
from envmon.words import section, text, word

# Pages may load only our own scripts, styles and images; nothing from elsewhere, no inline script.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@cache
def environment() -> jinja2.Environment:
    """The template environment (templates ship inside the package)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dashboard", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = format_number
    return env


# The sections app.js names codes from in live updates (new alerts, the queue, review marks, ages).
SCRIPT_SECTIONS = ("severity", "state", "mark_reason", "age", "rule")


@cache
def script_words(locale: str) -> str:
    """The catalogue's words app.js needs, as JSON for the page's data-words attribute."""
    chosen = {f"{name}.{code}": value for name in SCRIPT_SECTIONS for code, value in section(locale, name).items()}
    chosen |= {key: text(locale, key) for key in ("page.never", "page.new_alert")}
    return json.dumps(chosen, ensure_ascii=False, sort_keys=True)


def page(request: Request, template: str, session: Session | None, *, status_code: int = 200,
         locale: str | None = None, **context: Any) -> HTMLResponse:
    """Render a page with the user, their language, local-time helpers and the CSRF token."""
    state = app_state(request)
    lang = locale or (session.locale if session else state.settings.locale)
    zone = state.settings.zone

    def when(value: datetime | None, seconds: bool = True) -> str:
        return local_time(value, zone, seconds=seconds)

    html = environment().get_template(template).render(
        request_path=request.url.path, session=session, user=session.user if session else None,
        csrf=session.csrf_token if session else "", locale=lang, t=lambda key: text(lang, "page." + key), when=when,
        w=lambda prefix, code: word(lang, prefix, code), script_words=script_words(lang),
        age=lambda seconds: age_text(seconds, lang), zone_name=state.settings.timezone, now=utc_now(),
        may=lambda action: session is not None and can(session.user.role, action),
        say=lambda notice: notice.words(lang, when), **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=security_headers())


def security_headers() -> dict[str, str]:
    """Headers every page carries."""
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
