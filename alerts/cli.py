"""`envmon alerts` (the engine as its own process), `envmon replay` (backtest on a CSV) and `envmon alert`
(list, acknowledge, resolve and close alerts from a terminal)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from envmon.commands import add_command
from envmon.domain import ACTIVE_STATES, ALERT_STATES
from envmon.settings import Settings


def _alerts(args: argparse.Namespace, settings: Settings) -> int:
    """run the alert engine and SMS sender as their own process

    Evaluate every committed batch (from ingest, over the broker's batch topic), open and escalate alerts, send SMS
    (Twilio, or the console without credentials), serve /metrics, /healthz and the Twilio webhooks
    (ENVMON_ALERTS_HTTP_HOST/PORT).
    """
    from alerts.service import run_alerts

    overrides: dict[str, Any] = {}
    if args.policy is not None:
        overrides["alerts_policy_file"] = args.policy
    if args.http_port is not None:
        overrides["alerts_http_port"] = args.http_port
    return run_alerts(settings.model_copy(update=overrides) if overrides else settings)


def _watchdog(args: argparse.Namespace, settings: Settings) -> int:
    """page the on-call administrators once when envmon itself stops watching

    The dead man's switch: reads the heartbeats ingest and the alert engine write to PostgreSQL and how many of each
    district's devices are silent; on a platform fault sends ONE SMS to the recipients whose role is
    ENVMON_WATCHDOG_RECIPIENT_ROLE (through its own outbox rows and sender, so it works while the alert service is
    down), holds back per-device no-data alerts (recorded as suppressed, reason platform_fault), and announces the
    recovery once.
    """
    from alerts.watchdog import run_watchdog

    return run_watchdog(settings)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from alerts.replay import Replay, lines_of_devices, narrow_registry, write_lines
    from alerts.rules.policy import load_policy, load_policy_file
    from envmon.errors import ConfigError
    from envmon.registry.load import load_registry_file

    for path in (args.readings, args.registry, args.policy):
        if path is not None and not path.is_file():
            raise ConfigError(f"{path}: no such file")
    policy = load_policy_file(args.policy) if args.policy else load_policy("")
    registry = narrow_registry(load_registry_file(args.registry), devices=args.device or (), sites=args.site or ())
    replay = Replay(registry, policy, zone=settings.zone)
    with args.readings.open(encoding="utf-8", newline="") as source:
        lines = lines_of_devices(source, {d.mn for d in registry.file.devices}) if args.device or args.site else source
        count = write_lines(replay.run(lines, tick_seconds=args.tick_seconds), sys.stdout)
    print(f"replay: {count} lines", file=sys.stderr)
    return 0


_LIST = """
SELECT a.code, a.state, a.severity, a.rule, d.mn, s.code, a.pollutant, a.last_value, a.limit_value, a.opened_at,
       a.acknowledged_by, a.disposition
FROM alerts a JOIN devices d ON d.id = a.device_id JOIN sites s ON s.id = d.site_id
WHERE a.state = ANY(%s) ORDER BY a.opened_at DESC LIMIT %s
"""
_LIST_KEYS = ("code", "state", "severity", "rule", "device", "site", "pollutant", "value", "limit", "opened_at",
              "acknowledged_by", "disposition")


# The states in their lifecycle order (envmon.domain's words).
ACTIVE_IN_ORDER = tuple(s for s in ALERT_STATES if s in ACTIVE_STATES)


def list_states(given: list[str] | None) -> list[str]:
    """The states `--state` names: 'active' (the default) and 'any' stand for their groups."""
    wanted: list[str] = []
    for state in given or ["active"]:
        group = {"active": ACTIVE_IN_ORDER, "any": ALERT_STATES}.get(state, (state,))
        wanted += [s for s in group if s not in wanted]
    return wanted


def value_text(value: float | None, limit: float | None) -> str:
    """'value (limit L)' with only what the alert has: silent and device alerts carry neither."""
    from envmon.numbers import format_number

    shown = "" if value is None else format_number(value)
    if limit is not None:
        shown += f" (limit {format_number(limit)})"
    return shown.strip() or "-"


def _alert_list(args: argparse.Namespace, settings: Settings) -> int:
    from envmon.db import connect

    with connect(settings) as conn:
        rows = conn.execute(_LIST, [list_states(args.state), args.limit]).fetchall()
    for row in rows:
        item = dict(zip(_LIST_KEYS, row, strict=True))
        item["opened_at"] = item["opened_at"].astimezone(settings.zone).isoformat(timespec="seconds")
        if args.json:
            print(json.dumps(item, ensure_ascii=False))
        else:
            print(f"{item['code']}  {item['state']:<12} {item['severity']:<10} {item['site']:<10} {item['device']:<16}"
                  f" {item['pollutant']:<7} {item['rule']:<9} {value_text(item['value'], item['limit'])}"
                  f"  {item['opened_at']}")
    return 0


def _alert_action(args: argparse.Namespace, settings: Settings) -> int:
    from alerts import people
    from alerts.lifecycle import LifecycleError, parse_alert_code
    from envmon.db import connect
    from envmon.errors import ConfigError

    alert_id = parse_alert_code(args.code)
    if alert_id is None:
        raise ConfigError(f"{args.code!r} is not an alert code (6 characters, e.g. K7M2Q9)")
    now = datetime.now(UTC)
    with connect(settings, autocommit=True) as conn:
        try:
            if args.action == "ack":
                record = people.acknowledge_alert(conn, alert_id, actor=args.actor, disposition=args.disposition,
                                                  note=args.note, now=now)
            elif args.action == "resolve":
                record = people.resolve_alert(conn, alert_id, actor=args.actor, reason=args.note or "cli", now=now)
            else:
                record = people.close_alert(conn, alert_id, actor=args.actor, reason=args.note or "cli", now=now)
        except LifecycleError as exc:
            raise ConfigError(str(exc)) from exc
    print(f"alert {record.code}: {record.state}" + (f" ({record.disposition})" if record.disposition else ""))
    return 0


_SCOPE = """
SELECT s.id, NULL::integer FROM sites s WHERE s.code = %(site)s
UNION ALL SELECT NULL, d.id FROM devices d WHERE d.mn = %(device)s
"""


def _alert_quiet(args: argparse.Namespace, settings: Settings) -> int:
    """A silence (from now, for some minutes) or a maintenance window (from/to): recorded, not sent."""
    from psycopg.types.json import Jsonb

    from envmon.db import connect
    from envmon.errors import ConfigError

    if bool(args.site) == bool(args.device):
        raise ConfigError("give --site CODE or --device MN")
    now = datetime.now(UTC)
    starts = datetime.fromisoformat(args.start) if getattr(args, "start", None) else now
    ends = datetime.fromisoformat(args.end) if getattr(args, "end", None) else now + timedelta(minutes=args.minutes)
    if starts.tzinfo is None or ends.tzinfo is None:
        raise ConfigError("times need a UTC offset, e.g. 2026-11-23T08:00+08:00")
    with connect(settings) as conn:
        row = conn.execute(_SCOPE, {"site": args.site, "device": args.device}).fetchone()
        if row is None:
            raise ConfigError(f"no site {args.site!r}" if args.site else f"no device {args.device!r}")
        if args.action == "silence":
            conn.execute("INSERT INTO silences (site_id, device_id, rule, starts_at, ends_at, reason, created_by)"
                         " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         [*row, args.rule, starts, ends, args.reason, args.actor])
        else:
            conn.execute("INSERT INTO maintenance_windows (site_id, device_id, starts_at, ends_at, reason, created_by)"
                         " VALUES (%s, %s, %s, %s, %s, %s)", [*row, starts, ends, args.reason, args.actor])
        detail = {"site": args.site, "device": args.device, "starts_at": starts.isoformat(),
                  "ends_at": ends.isoformat(), "reason": args.reason}
        conn.execute("INSERT INTO audit_log (actor, action, entity, entity_key, detail)"
                     " VALUES (%s, 'create', %s, %s, %s)",
                     [args.actor, args.action, args.site or args.device, Jsonb(detail)])
    local = ends.astimezone(settings.zone).isoformat(timespec="minutes")
    print(f"{args.action} of {args.site or args.device} until {local}: alerts are recorded, SMS are not sent")
    return 0


def add_alerts_parsers(sub: Any) -> None:
    """Add `alerts`, `replay` and `alert` to the envmon command line."""
    alerts = add_command(sub, "alerts", _alerts)
    alerts.add_argument("--policy", type=Path, help="engine policy TOML (default: ENVMON_ALERTS_POLICY_FILE)")
    alerts.add_argument("--http-port", type=int, help="port of the HTTP endpoint (0: any free port)")

    add_command(sub, "watchdog", _watchdog)

    replay = sub.add_parser(
        "replay",
        help="run the alert engine over a CSV of readings in simulated time (no services needed)",
        description="Backtest limits and policy on history: READINGS.csv has the columns "
        "time,device,pollutant,value,flag (values in the unit HJ 212 uses, sorted by time). Prints one JSON "
        "object per line for each transition and each SMS that would be sent.",
    )
    replay.add_argument("readings", type=Path, metavar="READINGS.csv")
    replay.add_argument("--registry", type=Path, required=True, help="registry file (plants, devices, limits, people)")
    replay.add_argument("--policy", type=Path, help="engine policy TOML (default: built-in)")
    replay.add_argument("--tick-seconds", type=float, default=1.0, help="simulated seconds between timer ticks")
    replay.add_argument("--device", action="append", metavar="MN",
                        help="only this device (repeatable): other devices' lines are skipped, none is reported silent")
    replay.add_argument("--site", action="append", metavar="CODE", help="only the devices of this plant (repeatable)")
    replay.set_defaults(handler=_replay)

    alert = sub.add_parser("alert", help="list, acknowledge, resolve or close alerts",
                           description="What inspectors and operators do to alerts, from a terminal.")
    actions = alert.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="active alerts, newest first")
    listing.add_argument("--state", action="append", choices=["active", "any", *ALERT_STATES],
                         help="only these states (repeatable; default: active = open, escalated, acknowledged)")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=_alert_list)
    for name, summary in (("ack", "acknowledge with a disposition"), ("resolve", "resolve by hand"),
                          ("close", "close the file")):
        action = actions.add_parser(name, help=summary)
        action.add_argument("code", help="the alert code from the SMS")
        action.add_argument("--actor", default="cli", help="who acts, for the alert's events")
        action.add_argument("--note", help="a note (the reason, for resolve and close)")
        if name == "ack":
            action.add_argument("--disposition", required=True,
                                choices=["confirmed", "false_alarm", "device_fault", "enforcement_case"])
        action.set_defaults(handler=_alert_action)
    quiet = {
        "silence": "record alerts of a plant or device without sending SMS, from now for some minutes",
        "maintenance": "a maintenance window: alerts are recorded, SMS are not sent",
    }
    for name, summary in quiet.items():
        action = actions.add_parser(name, help=summary, description=summary + " (taken up within 30 s).")
        action.add_argument("--site", help="plant code")
        action.add_argument("--device", help="device MN code")
        action.add_argument("--reason", required=True)
        action.add_argument("--actor", default="cli", help="who, for the audit log")
        if name == "silence":
            action.add_argument("--minutes", type=float, required=True)
            action.add_argument("--rule", help="only this rule (e.g. flag, silent)")
        else:
            action.add_argument("--from", dest="start", required=True, help="start, ISO 8601 with offset")
            action.add_argument("--to", dest="end", required=True, help="end, ISO 8601 with offset")
        action.set_defaults(handler=_alert_quiet)
