"""The `envmon` command line: one entry point, a sub-command per job, each with its own --help."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from envmon import __version__
from envmon.errors import EnvmonError
from envmon.logs import setup_logging
from envmon.settings import Settings, load_settings

Handler = Callable[[argparse.Namespace, Settings], int]
# `envmon bench NAME ...` runs NAME's module `main(argv)`, which prints one JSON object.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "ingest": ("ingest.bench", "readings/s through MQTT into PostgreSQL against the raw COPY ceiling"),
    "alerts": ("alerts.bench_latency", "publish-to-SMS latency under ingest load, and the engine's evaluation rate"),
    "report": ("alerts.reports.bench", "alert open to report stored (p50/p95), PDF size"),
    "sim": ("device_sim.bench", "the simulator's generation rate (readings/s)"),
    "dashboard": ("dashboard.bench", "dashboard overview p95 (district, 2,000 devices) and a 30-day chart"),
    "chaos": ("alerts.chaos.bench", "random kills and outages under a scenario, judged by replay (about 10 min)"),
}


def _stack_up(args: argparse.Namespace, settings: Settings) -> int:
    from envmon.db import redact_url
    from envmon.stack import launcher

    state = launcher.up(settings.state_dir, pg_port=args.pg_port, mqtt_port=args.mqtt_port)
    print(f"PostgreSQL  {redact_url(state.database_url)}")
    print(f"Mosquitto   mqtt://127.0.0.1:{state.mqtt_port} (MQTT v5, per-device logins)")
    print(f"settings    {launcher.state_file(state.state_dir)}")
    return 0


def _stack_down(args: argparse.Namespace, settings: Settings) -> int:
    from envmon.stack import launcher

    print("stack stopped" if launcher.down(settings.state_dir) else f"no stack under {settings.state_dir}")
    return 0


def _stack_status(args: argparse.Namespace, settings: Settings) -> int:
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
    from envmon.registry.load import load_registry_file

    reg = load_registry_file(args.file).file
    print(
        f"{args.file}: valid ({len(reg.districts)} districts, {len(reg.sites)} sites, {len(reg.devices)} devices, "
        f"{len(reg.limits)} limits, {len(reg.recipients)} recipients, {len(reg.escalation_chains)} escalation chains)"
    )
    return 0


def _registry_load(args: argparse.Namespace, settings: Settings) -> int:
    from envmon.registry.service import apply_registry_file
    from envmon.registry.store import as_json

    result = apply_registry_file(settings, args.file, actor=args.actor)
    print(f"{args.file}: loaded {as_json(result.counts)}")
    if result.broker_logins is not None:
        print(f"broker: {result.broker_logins} device logins written")
    return 0


def _catalogue(args: argparse.Namespace, settings: Settings) -> int:
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


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.service import run_ingest
    from ingest.workers import run_workers

    given = (("ingest_client_id", args.client_id), ("ingest_http_port", args.http_port))
    overrides: dict[str, object] = {k: v for k, v in given if v is not None}
    if args.shared:
        overrides["ingest_shared_subscription"] = True
    if args.hj212:
        overrides["ingest_hj212"] = True
    if args.workers:
        overrides["ingest_workers"] = args.workers
    if overrides:
        settings = settings.model_copy(update=overrides)
    return run_workers(settings) if settings.ingest_workers > 1 else run_ingest(settings)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from envmon.demo import run_demo

    return run_demo(
        settings, registry_path=args.registry, keep_stack=args.keep_stack, duration_seconds=args.duration_seconds
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="envmon",
        description="Real-time environmental and safety monitoring for heavy-metal and chemical plants.",
        epilog="Settings come from ENVMON_* variables, DATABASE_URL, MQTT_URL, the TOML file in ENVMON_CONFIG "
        "and the local stack's .envmon/stack.toml. See README.md.",
    )
    parser.add_argument("--version", action="version", version=f"envmon {__version__}")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override ENVMON_LOG_LEVEL")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    stack = sub.add_parser(
        "stack",
        help="start, stop or inspect the local PostgreSQL and Mosquitto",
        description="The embedded default: a private PostgreSQL cluster and Mosquitto broker on "
        "127.0.0.1, with data under ENVMON_STATE_DIR (default ./.envmon).",
    )
    stack_sub = stack.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    up = stack_sub.add_parser(
        "up",
        help="start both (reuses an existing set-up)",
        description="Start PostgreSQL and Mosquitto; writes the URLs other commands use.",
    )
    up.add_argument("--pg-port", type=int, help="PostgreSQL port on first set-up (default: a free port)")
    up.add_argument("--mqtt-port", type=int, help="Mosquitto port on first set-up (default: a free port)")
    up.set_defaults(handler=_stack_up)
    stack_sub.add_parser(
        "down",
        help="stop both",
        description="Stop the broker (SIGTERM, it saves its state) and PostgreSQL (fast shutdown).",
    ).set_defaults(handler=_stack_down)
    status = stack_sub.add_parser(
        "status",
        help="report what runs (exit 0 when both run, 3 otherwise)",
        description="Report the state of the local stack.",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_stack_status)

    sub.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply the numbered SQL files in migrations/ in order, each in a transaction, under "
        "an advisory lock; refuses to run when an applied file has changed. Uses the "
        "TimescaleDB variants when the server has the extension (ENVMON_TIMESCALEDB=auto|"
        "require|off).",
    ).set_defaults(handler=_migrate)

    registry = sub.add_parser(
        "registry",
        help="check or load plants, devices, limits and recipients",
        description="Registry files are strict TOML; see examples/fengxian.toml.",
    )
    reg_sub = registry.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    check = reg_sub.add_parser(
        "check",
        help="validate a registry file without a database",
        description="Validate FILE; every problem is listed with where it is.",
    )
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(handler=_registry_check)
    load = reg_sub.add_parser(
        "load",
        help="load a registry file into the database (idempotent)",
        description="Validate FILE and upsert it in one transaction; loading the same file "
        "again changes nothing. With the local stack, MQTT devices get broker logins.",
    )
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--actor", default="cli", help="who is loading, for the audit log (default: cli)")
    load.set_defaults(handler=_registry_load)

    cat = sub.add_parser(
        "catalogue",
        help="list pollutants (or limit presets)",
        description="The pollutant catalogue shipped with envmon, in the configured locale.",
    )
    cat.add_argument("--presets", action="store_true", help="list the limit presets instead")
    cat.set_defaults(handler=_catalogue)

    from alerts.cli import add_alerts_parsers
    from alerts.reports.cli import add_report_parser
    from dashboard.cli import add_dashboard_parser
    from device_sim.cli import add_sim_parser
    from ingest.hj212.cli import add_hj212_parser

    add_hj212_parser(sub)
    add_alerts_parsers(sub)
    add_report_parser(sub)
    add_sim_parser(sub)
    add_dashboard_parser(sub)

    ingest = sub.add_parser(
        "ingest",
        help="receive readings over MQTT and store them",
        description="Subscribe to every device's readings (MQTT v5, QoS 1, persistent session), store them in "
        "batches and acknowledge each message only after its batch is committed. Bad input is quarantined "
        "with a reason. Serves /metrics and /healthz (ENVMON_INGEST_HTTP_HOST/PORT).",
    )
    ingest.add_argument("--client-id", help="stable MQTT client id (default: ENVMON_INGEST_CLIENT_ID)")
    ingest.add_argument("--shared", action="store_true", help="join the shared subscription $share/envmon-ingest")
    ingest.add_argument("--http-port", type=int, help="port of /metrics and /healthz (0: any free port)")
    ingest.add_argument(
        "--workers",
        type=int,
        help="run N ingest processes on the shared subscription $share/envmon-ingest (ENVMON_INGEST_WORKERS)",
    )
    ingest.add_argument("--hj212", action="store_true", help="also run the HJ 212 TCP gateway (ENVMON_HJ212_PORT)")
    ingest.set_defaults(handler=_ingest)

    bench = sub.add_parser(
        "bench",
        help="run a benchmark and print its figures as JSON",
        description="Benchmarks run on a private stack of their own and print one JSON object. "
        "`envmon bench ingest --help` lists the ingest benchmark's options.",
    )
    bench_sub = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    # Each benchmark owns its options (benchmarks/<name>.py takes the same): main() forwards them.
    for name, (_, summary) in BENCHMARKS.items():
        bench_sub.add_parser(name, help=summary, add_help=False)

    demo = sub.add_parser(
        "demo",
        help="run the whole platform on the local stack with the example district",
        description="Start the stack, migrate, load the example district and run every component "
        "in one process until Ctrl-C.",
    )
    demo.add_argument("--registry", type=Path, default=None, help="registry file (default: examples/fengxian.toml)")
    demo.add_argument("--keep-stack", action="store_true", help="leave PostgreSQL and Mosquitto running at exit")
    demo.add_argument("--duration-seconds", type=float, default=None, help="stop by itself after this long")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `envmon` console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    if len(words) >= 2 and words[0] == "bench" and words[1] in BENCHMARKS:
        module = importlib.import_module(BENCHMARKS[words[1]][0])
        return int(module.main(words[2:]))
    args = build_parser().parse_args(words)
    try:
        overrides = {"environment": "demo"} if args.command == "demo" else {}
        settings = load_settings(**overrides)
        setup_logging(args.log_level or settings.log_level)
        return int(args.handler(args, settings))
    except EnvmonError as exc:
        print(f"envmon: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
