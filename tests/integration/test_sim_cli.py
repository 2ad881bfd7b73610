"""`envmon sim`: help, scenario listing, a backfill run with progress and summary, and the demo component."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from device_sim.cli import add_sim_parser
from device_sim.errors import SimError
from device_sim.service import SimService
from envmon.settings import Settings, load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from tests.conftest import EXAMPLE_REGISTRY
from tests.mqtt_helpers import ProbeClient, connect, wait_for_logins
from tests.patience import patience

DEVICES = ["310120EP001W01", "310120CH001S01"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="envmon")
    add_sim_parser(parser.add_subparsers(dest="command"))
    return parser


def test_help_lists_the_modes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["sim", "--help"])
    text = capsys.readouterr().out
    for option in ("--scenario", "--seed", "--speed", "--backfill", "--start", "--load", "--rate", "--list-scenarios"):
        assert option in text


def test_list_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["sim", "--list-scenarios"])
    assert args.handler(args, load_settings(environment="test")) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "demo" in names and "seq_gaps" in names


def test_start_without_offset_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["sim", "--start", "2026-11-20T00:00:00"])
    assert "needs a UTC offset" in capsys.readouterr().err


def test_backfill_and_speed_together_are_refused() -> None:
    args = _parser().parse_args(["sim", "--backfill", "--speed", "5"])
    with pytest.raises(SimError, match="not both"):
        args.handler(args, load_settings(environment="test"))


@pytest.fixture
def sim_settings(stack: StackState) -> Settings:
    launcher.set_device_credentials(stack, DEVICES)
    wait_for_logins(stack.mqtt_port, {d: mosquitto.device_secret(stack.secret_key, d) for d in DEVICES})
    return load_settings(environment="test", mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER),
                         secret_key=stack.secret_key, state_dir=stack.state_dir)


@pytest.fixture
def probe(stack: StackState) -> Iterator[ProbeClient]:
    client = connect(stack.mqtt_port, mosquitto.SERVICE_USER, stack.mqtt_users[mosquitto.SERVICE_USER])
    client.subscribe("envmon/v1/+/up")
    yield client
    client.close()


def test_backfill_of_a_past_hour_runs_fast_and_prints_a_summary(
    sim_settings: Settings, probe: ProbeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _parser().parse_args([
        "sim", "--registry", str(EXAMPLE_REGISTRY), "--scenario", "gas_levels", "--backfill",
        "--start", "2026-11-20T10:00:00+08:00", "--duration-seconds", "3600", "--devices", ",".join(DEVICES),
    ])
    started = time.monotonic()
    assert args.handler(args, sim_settings) == 0
    assert time.monotonic() - started < 60
    out, err = capsys.readouterr()
    assert "envmon sim: 2 devices, scenario gas_levels" in err
    assert "messages  840 " in out  # 120 water + 720 gas samples in the hour
    deadline = time.monotonic() + patience(10)
    while len(probe.received) < 840 and time.monotonic() < deadline:
        time.sleep(0.05)
    bodies = [json.loads(p) for _, p in probe.received]
    assert len(bodies) == 840
    gas = [b for b in bodies if b["device"] == "310120CH001S01"]
    # Sorted: under a burst the device holds messages back and sends them late (ingest keys readings by time).
    times = sorted({datetime.fromisoformat(b["time"]) for b in gas})
    assert times[0] >= datetime.fromisoformat("2026-11-20T10:00:00+08:00")
    assert times[-1] < datetime.fromisoformat("2026-11-20T11:00:00+08:00")
    assert {(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)} == {5.0}
    assert max(b["values"]["s01001"] for b in gas) > 50  # the leak reached level 2


def test_sim_service_runs_as_a_demo_component_until_stopped(sim_settings: Settings, probe: ProbeClient) -> None:
    service = SimService(sim_settings, registry_path=EXAMPLE_REGISTRY, scenario="demo", speed=1.0, seed=0)
    service.runner.plans = [p for p in service.runner.plans if p.mn in DEVICES]
    assert service.name == "sim"

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(6, stop.set)
        await service.run(stop)

    asyncio.run(run())
    devices = {json.loads(p)["device"] for _, p in probe.received}
    assert "310120CH001S01" in devices  # the gas detector reports every 5 s (the analyser may not within 6 s)
    assert service.runner.stats.snapshot()["errors"] == 0


def test_unknown_devices_are_refused_by_name() -> None:
    from device_sim.runner import RunOptions, SimRunner

    with pytest.raises(SimError, match="NOPE1, NOPE2"):
        SimRunner(load_settings(environment="test"),
                  RunOptions(registry_path=EXAMPLE_REGISTRY, devices=("NOPE2", "310120EP001W01", "NOPE1")))
