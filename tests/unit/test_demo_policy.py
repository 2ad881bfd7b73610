"""The demo's policy (examples/demo-policy.toml): the demo scenario's stuck and silent sensors alert within
the first minutes, where the production defaults would stay quiet; the banner says which policy runs."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.replay import Replay
from alerts.rules.policy import Policy, load_policy, load_policy_file
from envmon.registry.load import load_registry_file
from envmon.settings import load_settings
from envmon_app.demo import DEMO_POLICY, policy_line, with_demo_policy, with_known_hj212_port
from tests.conftest import EXAMPLE_REGISTRY

START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
STUCK, SILENT = "310120EP004W01", "310120CH011W01"  # the demo scenario's stuck and offline devices


def _first_minutes(policy: Policy, minutes: int = 5) -> set[tuple[str, str]]:
    """(device, rule) of the alerts opened in the first minutes: the stuck sensor repeats one value from the
    start, the silent analyser reports once and stops."""
    lines = ["time,device,pollutant,value,flag", f"{START.isoformat()},{SILENT},w01018,20,N"]
    lines += [f"{(START + timedelta(seconds=s)).isoformat()},{STUCK},w20117,50,N" for s in range(0, 60 * minutes, 30)]
    replay = Replay(load_registry_file(EXAMPLE_REGISTRY), policy, zone=ZoneInfo("Asia/Shanghai"))
    return {(line["device"], line["rule"]) for line in replay.run(io.StringIO("\n".join(lines) + "\n"))
            if line["kind"] == "transition" and line["device"] in (STUCK, SILENT)}


def test_stuck_and_silent_sensors_alert_within_five_minutes_with_the_demo_policy() -> None:
    assert _first_minutes(load_policy_file(DEMO_POLICY)) >= {(STUCK, "constant"), (SILENT, "silent")}
    assert _first_minutes(load_policy("")) == set()  # the production defaults wait far longer


@pytest.mark.parametrize(("given", "expected"), [
    pytest.param(None, DEMO_POLICY, id="demo-policy-by-default"),
    pytest.param(Path("/etc/envmon/policy.toml"), Path("/etc/envmon/policy.toml"), id="a-set-policy-wins"),
])
def test_the_demo_uses_its_policy_unless_one_is_set(given: Path | None, expected: Path) -> None:
    settings = load_settings(environment="test", alerts_policy_file=given)
    assert with_demo_policy(settings).alerts_policy_file == expected


def test_the_banner_says_what_the_policy_does() -> None:
    policy = load_policy_file(DEMO_POLICY)
    line = policy_line(DEMO_POLICY, silent_seconds=policy.silent.min_seconds, constant_samples=policy.constant.samples)
    assert line == "  policy     demo-policy.toml: a device is silent after 120 s, a sensor stuck after 6 equal values"


@pytest.mark.parametrize(("configured", "expected"), [
    pytest.param(0, 41234, id="os-picks: a free port the loggers are told"),
    pytest.param(9212, 9212, id="fixed: kept"),
])
def test_the_demos_loggers_know_the_gateways_port(configured: int, expected: int) -> None:
    settings = load_settings(environment="test", hj212_port=configured)
    assert with_known_hj212_port(settings, pick=lambda: 41234).hj212_port == expected
