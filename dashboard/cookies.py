"""How the session cookie is named and flagged for a request's scheme and host.

Over https the cookie is `__Host-envmon_session` (Secure, Path=/, no Domain: the browser refuses it
otherwise). A `__Host-` cookie must be Secure, which plain http cannot carry, so on plain http to a
loopback address (tests, the demo) the cookie is `envmon_session` without Secure; plain http to any
other host gets no session at all (login refused with a message to use https).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

SECURE_NAME = "__Host-envmon_session"
LOOPBACK_NAME = "envmon_session"
LOGIN_CSRF_NAME = "envmon_login_csrf"


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """The session cookie's name and whether it is Secure."""

    name: str
    secure: bool


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_policy(scheme: str, host: str, *, allow_http_on_loopback: bool) -> CookiePolicy | None:
    """The cookie to use, or None when this connection may not carry a session."""
    if scheme == "https":
        return CookiePolicy(SECURE_NAME, True)
    if allow_http_on_loopback and is_loopback(host):
        return CookiePolicy(LOOPBACK_NAME, False)
    return None
