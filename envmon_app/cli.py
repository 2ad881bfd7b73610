"""The `envmon` command line: one entry point, a sub-command per job, each with its own --help.

The kernel and each feature register their own sub-commands; this module only puts them in order
and adds the two that span features: `bench` and `demo`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alerts.cli import add_alerts_parsers
from alerts.reports.cli import add_report_parser
from dashboard.cli import add_dashboard_parser
from device_sim.backfill import BUDGET_SECONDS
from device_sim.cli import add_sim_parser
from envmon import __version__
from envmon.commands import add_command, add_group, add_kernel_parsers
from envmon.errors import EnvmonError
from envmon.logs import setup_logging
from envmon.settings import Settings, load_settings
from ingest.cli import add_ingest_parser
from ingest.forward.cli import add_forward_parser
from ingest.hj212_cli import add_hj212_parser

# `envmon bench NAME ...` runs `benchmarks.NAME`'s `main(argv)`, which prints one JSON object.
BENCHMARKS: dict[str, str] = {
    "ingest": "readings/s through MQTT into PostgreSQL against the raw COPY ceiling",
    "alerts": "publish-to-SMS latency under ingest load, and the engine's evaluation rate",
    "report": "alert open to report stored (p50/p95), PDF size",
    "sim": "the simulator's generation rate (readings/s)",
    "dashboard": "dashboard overview p95 (district, 2,000 devices) and a 30-day chart",
    "export": "one month of one plant's readings exported as CSV and XLSX: MB/s, memory",
    "history": "plant page charts (30 days, 1 year) and reports over a year of one plant's readings",
    "compression": "TimescaleDB compression of a week of simulated readings: bytes per reading, cost",
    "chaos": "random kills and outages under a scenario, judged by replay (about 10 min)",
}


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    """run the whole platform on the local stack with the example district

    Start the stack, migrate, load the example district and run every component in one process until Ctrl-C.
    """
    from envmon_app.demo import run_demo

    return run_demo(
        settings, registry_path=args.registry, keep_stack=args.keep_stack, duration_seconds=args.duration_seconds,
        backfill=not args.no_backfill, backfill_seconds=args.backfill_seconds,
    )


def _add_bench_parser(sub: Any) -> None:
    bench_sub = add_group(
        sub, "bench", "run a benchmark and print its figures as JSON",
        "Benchmarks run on a private stack of their own and print one JSON object. "
        "`envmon bench ingest --help` lists the ingest benchmark's options.", dest="bench_command", metavar="BENCHMARK",
    )
    # Each benchmark owns its options (benchmarks/<name>.py takes the same): main() forwards them.
    for name, summary in BENCHMARKS.items():
        bench_sub.add_parser(name, help=summary, add_help=False)


def _positive_seconds(text: str) -> float:
    """A number of seconds above zero, for argparse (its message for anything else)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def _add_demo_parser(sub: Any) -> None:
    demo = add_command(sub, "demo", _demo)
    demo.add_argument("--registry", type=Path, default=None, help="registry file (default: examples/fengxian.toml)")
    demo.add_argument("--keep-stack", action="store_true", help="leave PostgreSQL and Mosquitto running at exit")
    demo.add_argument("--duration-seconds", type=float, default=None, help="stop by itself after this long")
    demo.add_argument("--no-backfill", action="store_true",
                      help="go live at once: no week of history on a fresh database")
    demo.add_argument("--backfill-seconds", type=_positive_seconds, default=BUDGET_SECONDS, metavar="SECONDS",
                      help="about how long the week of history may take to send (the recent hours come at each "
                           f"device's own interval, older ones thinned to fit; default {BUDGET_SECONDS:g})")


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
    # The order is the order of `envmon --help`.
    add_kernel_parsers(sub)
    add_hj212_parser(sub)
    add_alerts_parsers(sub)
    add_report_parser(sub)
    add_sim_parser(sub)
    add_dashboard_parser(sub)
    add_ingest_parser(sub)
    add_forward_parser(sub)
    _add_bench_parser(sub)
    _add_demo_parser(sub)
    return parser


def run_bench(name: str, argv: list[str]) -> int:
    """Run `benchmarks.NAME`'s main with the benchmark's own arguments."""
    module = importlib.import_module(f"benchmarks.{name}")
    return int(module.main(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `envmon` console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    if len(words) >= 2 and words[0] == "bench" and words[1] in BENCHMARKS:
        return run_bench(words[1], words[2:])
    args = build_parser().parse_args(words)
    try:
        overrides = {"environment": "demo"} if args.command == "demo" else {}
        settings = load_settings(**overrides)
        setup_logging(args.log_level or settings.log_level)
        code = int(args.handler(args, settings))
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not in the interpreter's exit
        return code
    except EnvmonError as exc:
        print(f"envmon: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return quiet_broken_pipe()


def quiet_broken_pipe() -> int:
    """The reader of our output left (`envmon ... | head`): stop without a traceback, as Unix tools do."""
    # Python's exit flushes stdout once more; pointing it at /dev/null keeps that flush from failing too.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
