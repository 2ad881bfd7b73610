"""Dashboard settings (host, port, sessions, login limits) with their defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from envmon.settings import Settings


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """What the dashboard needs beyond the shared settings (ENVMON_DASHBOARD_* in envmon/settings.py)."""

    host: str = "127.0.0.1"
    port: int = 8080
    # A control-room screen stays open all day: idle sessions end after 12 h, every session after 7 days.
    session_idle_seconds: int = 12 * 3600
    session_max_seconds: int = 7 * 86400
    # Failed logins allowed per username and per client address within the window before refusing.
    login_max_failures_per_user: int = 5
    login_max_failures_per_client: int = 20
    login_window_seconds: int = 900
    # Plain http is accepted only on loopback (tests, the demo); anywhere else a login needs https.
    allow_http_on_loopback: bool = True
    # The reverse proxies whose X-Forwarded-* headers are believed (comma-separated); empty: none.
    trusted_proxies: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DashboardConfig:
        """The settings' dashboard_* values; `overrides` (None ignored) win, e.g. command-line options."""
        config = cls(**{f.name: getattr(settings, f"dashboard_{f.name}") for f in fields(cls)})
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})
