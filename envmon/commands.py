"""The kernel's own commands (`envmon stack|migrate|registry|catalogue`), registered by the top-level CLI."""

from __future__ import annotations

import argparse
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envmon.settings import Settings

if TYPE_CHECKING:
    from envmon.registry.load import Registry

# Every sub-command's handler: the parsed arguments and the loaded settings in, the exit code out.
Handler = Callable[[argparse.Namespace, Settings], int]


def _stack_up(args: argparse.Namespace, settings: Settings) -> int:
    """start both (reuses an existing set-up)

    Start PostgreSQL and Mosquitto; writes the URLs other commands use.
    """
    from envmon.db import redact_url
    from envmon.stack import launcher

    state = launcher.up(
        settings.state_dir, pg_port=args.pg_port, mqtt_port=args.mqtt_port, timescaledb=settings.timescaledb
    )
    print(f"PostgreSQL  {redact_url(state.database_url)}")
    print(f"Mosquitto   mqtt://127.0.0.1:{state.mqtt_port} (MQTT v5, per-device logins)")
    print(f"settings    {launcher.state_file(state.state_dir)}")
    return 0


def _stack_down(args: argparse.Namespace, settings: Settings) -> int:
    """stop both

    Stop the broker (SIGTERM, it saves its state) and PostgreSQL (fast shutdown).
    """
    from envmon.stack import launcher

    print("stack stopped" if launcher.down(settings.state_dir) else f"no stack under {settings.state_dir}")
    return 0


def _stack_status(args: argparse.Namespace, settings: Settings) -> int:
    """report what runs (exit 0 when both run, 3 otherwise)

    Report the state of the local stack.
    """
    from envmon.stack import launcher

    info = launcher.status(settings.state_dir)
    if args.json:
        print(json.dumps(info, indent=2))
    elif not info["configured"]:
        print(f"no stack under {settings.state_dir} (run `envmon stack up`)")
    else:
        for name in ("postgres", "mosquitto"):
            part = info[name]
            state = f"running (pid {part['pid']})" if part["running"] else "stopped"
            print(f"{name:<10} {state:<22} 127.0.0.1:{part['port']}")
    running = info.get("configured") and info["postgres"]["running"] and info["mosquitto"]["running"]
    return 0 if running else 3


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    """apply pending database migrations

    Apply the numbered SQL files in migrations/ in order, each in a transaction, under an advisory lock; refuses to
    run when an applied file has changed. Uses the TimescaleDB variants when the server has the extension
    (ENVMON_TIMESCALEDB=auto|require|off).
    """
    from envmon.db import connect
    from envmon.migrate import migrate
    from envmon.registry.store import sync_catalogue

    result = migrate(
        settings.require_database_url(), settings.migrations_dir, timescaledb=settings.timescaledb, progress=print
    )
    with connect(settings) as conn:
        sync_catalogue(conn)
    print(
        f"schema up to date ({result.flavour}): {len(result.applied)} applied, {result.already_applied} already there"
    )
    return 0


def _registry_check(args: argparse.Namespace, settings: Settings) -> int:
    """validate a registry file without a database

    Validate FILE; every problem is listed with where it is.
    """
    from envmon.registry.load import load_registry_file

    print(check_summary(args.file, load_registry_file(args.file)))
    return 0


def check_summary(path: Path, registry: Registry) -> str:
    """`registry check`'s line: what the file holds; limits both as written and as the rows they become."""
    from envmon.registry.store import limit_rows

    reg = registry.file
    # The same rows `registry load` stores (plant presets expanded; the banner counts these), with stand-in ids.
    rows = len(limit_rows(registry, {s.code: i for i, s in enumerate(reg.sites)},
                          {d.mn: i for i, d in enumerate(reg.devices)}))
    return (
        f"{path}: valid ({len(reg.districts)} districts, {len(reg.sites)} sites, {len(reg.devices)} devices, "
        f"{len(reg.limits)} limit entries ({rows} limit rows with the plants' presets), {len(reg.recipients)} "
        f"recipients, {len(reg.escalation_chains)} escalation chains)"
    )


def _registry_load(args: argparse.Namespace, settings: Settings) -> int:
    """load a registry file into the database (idempotent)

    Validate FILE and upsert it in one transaction; loading the same file again changes nothing. With the local
    stack, MQTT devices get broker logins.
    """
    from envmon.registry.service import apply_registry_file
    from envmon.registry.store import as_json

    result = apply_registry_file(settings, args.file, actor=args.actor)
    print(f"{args.file}: loaded {as_json(result.counts)}")
    if result.broker_logins is not None:
        print(f"broker: {result.broker_logins} device logins written")
    return 0


def _catalogue(args: argparse.Namespace, settings: Settings) -> int:
    """list pollutants (or limit presets)

    The pollutant catalogue shipped with envmon, in the configured locale.
    """
    from envmon.catalogue import load_catalogue
    from envmon.registry.load import load_presets

    if args.presets:
        for preset in load_presets().values():
            print(f"{preset.id:<18} {preset.source:<26} {len(preset.limits):>2} limits  {preset.name_en}")
        return 0
    for p in load_catalogue().pollutants:
        conv = "" if p.protocol_factor == 1 else f" (sent in {p.protocol_unit}, x{p.protocol_factor:g})"
        print(f"{p.code}  {p.kind:<6} {p.canonical_unit:<6} {p.name(settings.locale)}{conv}")
    return 0


def add_command(sub: Any, name: str, handler: Handler) -> argparse.ArgumentParser:
    """Register one sub-command run by `handler`, whose docstring is its help: the first line in its parent's
    list, the rest atop its --help."""
    summary, _, description = inspect.cleandoc(handler.__doc__ or "").partition("\n")
    # argparse's help formatter fills paragraphs anyway; one line keeps `description` plain for callers.
    parser: argparse.ArgumentParser = sub.add_parser(name, help=summary, description=" ".join(description.split()))
    parser.set_defaults(handler=handler)
    return parser


def add_group(sub: Any, name: str, summary: str, description: str, *, dest: str, metavar: str = "ACTION") -> Any:
    """Register a command that holds sub-commands (one of them required, its name in `dest`); returns their
    sub-parsers. `summary` goes in the parent's list, `description` atop its --help."""
    parser = sub.add_parser(name, help=summary, description=description)
    return parser.add_subparsers(dest=dest, metavar=metavar, required=True)


def add_kernel_parsers(sub: Any) -> None:
    """Register stack, migrate, registry and catalogue on the top-level sub-parsers."""
    _add_stack_parsers(sub)
    add_command(sub, "migrate", _migrate)
    _add_registry_parsers(sub)
    cat = add_command(sub, "catalogue", _catalogue)
    cat.add_argument("--presets", action="store_true", help="list the limit presets instead")


def _add_stack_parsers(sub: Any) -> None:
    stack_sub = add_group(
        sub, "stack", "start, stop or inspect the local PostgreSQL and Mosquitto",
        "The embedded default: a private PostgreSQL cluster and Mosquitto broker on "
        "127.0.0.1, with data under ENVMON_STATE_DIR (default ./.envmon).", dest="stack_command",
    )
    up = add_command(stack_sub, "up", _stack_up)
    up.add_argument("--pg-port", type=int, help="PostgreSQL port on first set-up (default: a free port)")
    up.add_argument("--mqtt-port", type=int, help="Mosquitto port on first set-up (default: a free port)")
    add_command(stack_sub, "down", _stack_down)
    status = add_command(stack_sub, "status", _stack_status)
    status.add_argument("--json", action="store_true", help="print JSON")


def _add_registry_parsers(sub: Any) -> None:
    reg_sub = add_group(
        sub, "registry", "check or load plants, devices, limits and recipients",
        "Registry files are strict TOML; see examples/fengxian.toml.", dest="registry_command",
    )
    check = add_command(reg_sub, "check", _registry_check)
    check.add_argument("file", type=Path, metavar="FILE")
    load = add_command(reg_sub, "load", _registry_load)
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--actor", default="cli", help="who is loading, for the audit log (default: cli)")
