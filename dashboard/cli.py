"""`envmon dashboard` (serve) and `envmon user add` (create a user, e.g. the first admin)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from dashboard.access import ROLES
from dashboard.config import DashboardConfig
from dashboard.passwords import generate_password
from dashboard.users import UserError, create_user
from envmon.db import connect
from envmon.errors import EnvmonError
from envmon.settings import Settings


def add_dashboard_parser(sub: Any) -> None:
    """Add `envmon dashboard` and `envmon user add` to the CLI's sub-parsers (handlers set as `handler`)."""
    dash = sub.add_parser(
        "dashboard", help="serve the web dashboard",
        description="Serve the dashboard (pages, JSON API at /api, OpenAPI at /api/openapi.json, live events). "
        "Plain http is accepted on loopback only; put https in front of it anywhere else.",
    )
    dash.add_argument("--host", help="address to bind (default: ENVMON_DASHBOARD_HOST, 127.0.0.1)")
    dash.add_argument("--port", type=int, help="port (default: ENVMON_DASHBOARD_PORT, 8080)")
    dash.set_defaults(handler=run_dashboard_command)

    user = sub.add_parser("user", help="manage dashboard users", description="Dashboard users and roles.")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = user_sub.add_parser(
        "add", help="create a user (prints a generated password unless --password-stdin)",
        description="Create a dashboard user. Roles: viewer (reads), operator (acknowledges and resolves alerts), "
        "inspector (also opens enforcement cases), admin (everything, every plant). Non-admins see only the "
        "districts and plants given here.",
    )
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--district", action="append", default=[], metavar="D", help="a district the user sees")
    add.add_argument("--site", action="append", default=[], metavar="CODE", help="a plant the user sees")
    add.add_argument("--display-name", help="name shown in the dashboard (default: the username)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=run_user_add)


def run_dashboard_command(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of `envmon dashboard`."""
    from dashboard.service import run_dashboard

    return run_dashboard(settings, DashboardConfig.from_settings(settings, host=args.host, port=args.port))


def run_user_add(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of `envmon user add`."""
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else generate_password()
    try:
        with connect(settings, autocommit=True, application="envmon-user") as conn:
            create_user(conn, username=args.username, role=args.role, password=password, actor="cli",
                        now=datetime.now(UTC), districts=tuple(args.district), site_codes=tuple(args.site),
                        display_name=args.display_name)
    except UserError as exc:
        raise EnvmonError(str(exc)) from exc
    scope = "every plant" if args.role == "admin" else ", ".join([*args.district, *args.site]) or "no plant yet"
    print(f"user {args.username} ({args.role}, {scope}) created")
    if not args.password_stdin:
        print(f"password: {password}")
    return 0
