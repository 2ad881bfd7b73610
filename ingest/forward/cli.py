"""`envmon forward load|run|status`: configure upstream targets, forward to them, see backlog and lag."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envmon.db import connect
from envmon.settings import Settings
from ingest.forward.config import ForwardConfigError, parse_targets, store_targets
from ingest.forward.service import ForwardService, read_status, serve_http, status_json

DEFAULT_HTTP_PORT = 9316


def _load(args: argparse.Namespace, settings: Settings) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ForwardConfigError(f"cannot read the forwarding file {args.file}: {exc}") from exc
    targets = parse_targets(text)
    with connect(settings) as conn:
        store_targets(conn, targets)
    routes = sum(len(t.devices) for t in targets)
    print(f"loaded {len(targets)} target(s) with {routes} device route(s) from {args.file}")
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    service = ForwardService(settings.require_database_url())
    server = serve_http(service, args.http_host, args.http_port)
    print(f"forward: /metrics and /status on http://{args.http_host}:{server.server_address[1]}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        service.run(stop)
    finally:
        server.shutdown()
    return 0


def status_lines(rows: list[dict[str, object]]) -> list[str]:
    """The status table for people: one line per target."""
    header = f"{'target':<16} {'upstream':<24} {'backlog':>8} {'unacked':>8} {'lag_s':>9} {'acked':>9}  last ack"
    lines = [header]
    for row in rows:
        state = "" if row["enabled"] else " (disabled)"
        lines.append(f"{row['target']!s:<16} {row['upstream']!s:<24} {row['backlog_readings']!s:>8} "
                     f"{row['unacked_frames']!s:>8} {row['lag_seconds']!s:>9} {row['acked_frames']!s:>9}  "
                     f"{row['last_acked_at'] or '-'}{state}")
    return lines


def _status(args: argparse.Namespace, settings: Settings) -> int:
    rows = status_json(read_status(settings.require_database_url()), datetime.now(UTC))
    print(json.dumps(rows, indent=2, ensure_ascii=False) if args.json else "\n".join(status_lines(rows)))
    return 0


def add_forward_parser(sub: Any) -> None:
    """Register `envmon forward` on the top-level sub-parsers."""
    forward = sub.add_parser("forward", help="forward stored data to upstream HJ 212 platforms (数据转发)",
                             description="Store-and-forward of stored readings to provincial or national "
                             "platforms as an HJ 212 logger sends them (docs/forwarding.md).")
    actions = forward.add_subparsers(dest="forward_command", metavar="ACTION", required=True)
    load = actions.add_parser("load", help="load targets and device routes from a TOML file")
    load.add_argument("file", help="forwarding file ([[targets]] with [[targets.devices]])")
    load.set_defaults(handler=_load)
    run = actions.add_parser("run", help="run the forwarding service")
    run.add_argument("--http-host", default="127.0.0.1", help="address of /metrics, /status and /healthz")
    run.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, help="port of /metrics (0: any free)")
    run.set_defaults(handler=_run)
    status = actions.add_parser("status", help="backlog and lag per target")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=_status)
