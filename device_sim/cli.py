"""`envmon sim`: simulate the plants of a registry with a scenario, or load the broker with thousands
of devices; a live progress line on stderr and a summary at the end."""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from device_sim.errors import SimError
from device_sim.runner import RunOptions, SimRunner
from device_sim.scenario import load_scenario, scenario_names
from device_sim.stats import summary_lines
from envmon.settings import Settings

DEFAULT_REGISTRY = Path(__file__).resolve().parent.parent / "examples" / "fengxian.toml"
_EPILOG = """examples:
  envmon sim                                   the demo scenario on examples/fengxian.toml, real time
  envmon sim --scenario gas_levels --speed 60  an hour a minute (sample times in simulated time)
  envmon sim --scenario constant --backfill --start 2026-11-20T00:00:00+08:00 --duration-seconds 86400
  envmon sim --load --load-devices 5000 --rate 100000 --duration-seconds 30
See docs/simulator.md."""


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. 2026-11-20T00:00:00+08:00")
    return moment


def add_sim_parser(sub: Any) -> None:
    """Add the `sim` sub-command to the sub-parsers of envmon_app/cli.py."""
    p = sub.add_parser(
        "sim",
        help="simulate plants and devices (scenarios, MQTT and HJ 212), or load the broker",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY, help="registry file (default: the example)")
    p.add_argument("--scenario", default="demo", help="a shipped scenario's name or a TOML file (default: demo)")
    p.add_argument("--list-scenarios", action="store_true", help="list the shipped scenarios and exit")
    p.add_argument("--seed", type=int, default=0, help="same seed and scenario give the same readings (default 0)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    p.add_argument("--backfill", action="store_true", help="run a past period as fast as possible")
    p.add_argument("--start", type=_time, help="simulated start time with offset (default: now)")
    p.add_argument("--duration-seconds", type=float, help="simulated seconds to run (default: the scenario's)")
    p.add_argument("--devices", help="comma-separated MN codes to simulate (default: all)")
    p.add_argument("--transport", choices=["mqtt", "hj212", "both"], default="both", help="which devices to drive")
    load = p.add_argument_group("load mode")
    load.add_argument("--load", action="store_true", help="many synthetic devices at a target aggregate rate")
    load.add_argument("--load-devices", type=int, default=2000, help="synthetic devices (default 2000)")
    load.add_argument("--rate", type=float, default=50_000, help="target readings/s (default 50000)")
    load.add_argument("--publishers", type=int, default=1, help="publisher processes (default 1)")
    load.add_argument("--mn-prefix", default="LOAD", help="synthetic MN codes are PREFIX00000... (default LOAD)")
    load.add_argument("--mqtt-url", help="broker URL with the simulator's login (default: the local stack's)")
    p.set_defaults(handler=run_sim)


def _emitter() -> Any:
    """Progress to stderr: one rewritten line on a terminal, a line every 10 s otherwise."""
    tty = sys.stderr.isatty()
    calls = [0]

    def emit(line: str) -> None:
        calls[0] += 1
        if tty:
            print(f"\r{line:<110}", end="", file=sys.stderr, flush=True)
        elif calls[0] % 10 == 1:
            print(line, file=sys.stderr, flush=True)

    return emit


def _options(args: argparse.Namespace) -> RunOptions:
    if args.backfill and args.speed != 1.0:
        raise SimError("give --backfill or --speed, not both")
    devices = tuple(d.strip() for d in args.devices.split(",") if d.strip()) if args.devices else None
    return RunOptions(
        registry_path=args.registry,
        scenario=args.scenario,
        seed=args.seed,
        speed=math.inf if args.backfill else args.speed,
        start=args.start,
        duration_seconds=args.duration_seconds,
        devices=devices,
        mqtt=args.transport in ("mqtt", "both"),
        hj212=args.transport in ("hj212", "both"),
    )


async def _run_until_signal(runner: SimRunner) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runner.run(stop)


def run_sim(args: argparse.Namespace, settings: Settings) -> int:
    """The `envmon sim` handler."""
    if args.list_scenarios:
        for name in scenario_names():
            print(f"{name:<22} {load_scenario(name).description}")
        return 0
    if args.load:
        from device_sim.load import run_load_command

        return run_load_command(args, settings)
    if args.speed <= 0:
        raise SimError("--speed must be positive")
    runner = SimRunner(settings, _options(args), progress=_emitter())
    print(f"envmon sim: {len(runner.plans)} devices, scenario {runner.scenario.name}, seed {args.seed}",
          file=sys.stderr, flush=True)
    asyncio.run(_run_until_signal(runner))
    print(file=sys.stderr)
    print("\n".join(summary_lines(runner.stats)))
    return 1 if runner.stats.errors else 0
