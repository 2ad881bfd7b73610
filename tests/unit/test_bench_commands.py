"""`envmon bench alerts|report|chaos` reach their harness in benchmarks/ (moved out of alerts/, issue 17)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("name", "option"),
    [
        pytest.param("alerts", "--load-readings-per-s", id="alerts"),
        pytest.param("report", "--runs", id="report"),
        pytest.param("chaos", "--duration-seconds", id="chaos"),
    ],
)
def test_bench_command_shows_its_own_options(name: str, option: str) -> None:
    done = subprocess.run([sys.executable, "-m", "envmon_app", "bench", name, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"envmon bench {name}" in done.stdout and option in done.stdout


def test_chaos_runs_as_a_module() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.chaos", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--seed" in done.stdout
