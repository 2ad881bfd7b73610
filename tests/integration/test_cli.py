"""The envmon command line, run as a real process: help, errors, migrate, registry, demo."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from envmon.stack import launcher
from envmon.stack.processes import free_port
from tests.alert_helpers import wait_until
from tests.conftest import EXAMPLE_REGISTRY, ROOT, make_state_dir

COMMANDS = [
    [],
    ["stack"],
    ["stack", "up"],
    ["stack", "down"],
    ["stack", "status"],
    ["migrate"],
    ["registry"],
    ["registry", "check"],
    ["registry", "load"],
    ["catalogue"],
    ["demo"],
    ["ingest"],
    ["hj212"],
    ["hj212", "decode"],
    ["hj212", "encode"],
    ["hj212", "serve"],
]


def envmon(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MQTT_URL", "ENVMON_CONFIG")}
    return subprocess.run(
        [sys.executable, "-m", "envmon_app", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**base, **(env or {})},
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "envmon")
def test_every_command_has_help(command: list[str]) -> None:
    done = envmon(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: envmon" in done.stdout
    assert len(done.stdout.splitlines()) >= 4


def test_registry_check_reports_problems_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sites]]\ncode = "X"\nsurprise = 1\n')
    done = envmon("registry", "check", str(bad))
    assert done.returncode == 2
    assert "sites[0] (X).surprise: unknown key" in done.stderr


def test_registry_check_accepts_the_example() -> None:
    done = envmon("registry", "check", str(EXAMPLE_REGISTRY))
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    done = envmon("migrate", env={"ENVMON_STATE_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert "no database" in done.stderr and "envmon stack up" in done.stderr


def test_status_without_stack_exits_3(tmp_path: Path) -> None:
    done = envmon("stack", "status", env={"ENVMON_STATE_DIR": str(tmp_path)})
    assert done.returncode == 3
    assert "no stack" in done.stdout


def test_migrate_and_load_through_the_cli(database_url: str) -> None:
    env = {"DATABASE_URL": database_url, "ENVMON_STATE_DIR": "/nonexistent-envmon"}
    done = envmon("migrate", env=env)
    assert done.returncode == 0, done.stderr
    assert "0 applied" in done.stdout
    first = envmon("registry", "load", str(EXAMPLE_REGISTRY), env=env)
    assert first.returncode == 0, first.stderr
    assert '"sites":' in first.stdout
    second = envmon("registry", "load", str(EXAMPLE_REGISTRY), env=env)
    assert second.returncode == 0, second.stderr
    assert '{"inserted": {}, "updated": {}}' in second.stdout


@pytest.fixture
def demo_state_dir() -> Iterator[Path]:
    path = make_state_dir("envmon-demo-test-")
    try:
        yield path
    finally:
        launcher.down(path)
        shutil.rmtree(path, ignore_errors=True)


def demo_env(state_dir: Path, **ports: int) -> dict[str, str]:
    """The demo's environment on free ports (never the fixed defaults another demo may hold)."""
    chosen = {"ENVMON_HJ212_PORT": 0, "ENVMON_INGEST_HTTP_PORT": 0, "ENVMON_ALERTS_HTTP_PORT": 0,
              "ENVMON_DASHBOARD_PORT": free_port(), **ports}
    return {"ENVMON_STATE_DIR": str(state_dir), **{k: str(v) for k, v in chosen.items()}}


# The demo with its backfill, looked at in a browser and run twice: tests/browser/test_demo_alive_browser.py.


def test_demo_without_backfill_says_so_and_ctrl_c_stops_it_without_a_traceback(
    demo_state_dir: Path, tmp_path: Path
) -> None:
    """Ctrl-C signals the terminal's whole process group (issue 18: a worker printed its KeyboardInterrupt)."""
    errors = tmp_path / "stderr"
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MQTT_URL", "ENVMON_CONFIG")}
    with errors.open("w") as sink:
        demo = subprocess.Popen([sys.executable, "-m", "envmon_app", "demo", "--no-backfill"], cwd=ROOT,
                                env={**base, **demo_env(demo_state_dir)}, stdout=subprocess.PIPE, stderr=sink,
                                text=True, start_new_session=True)
        try:
            assert wait_until(lambda: "alert engine ready" in errors.read_text() or demo.poll() is not None,
                              timeout=180)
            os.killpg(demo.pid, signal.SIGINT)
            out, _ = demo.communicate(timeout=120)
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
    stderr = errors.read_text()
    assert demo.returncode in (0, 130) and "Traceback" not in stderr, stderr[-3000:]
    assert "alerts stopped" in stderr and "ingest stopped" in stderr
    assert "a fresh database (--no-backfill: no history)" in out
    assert "  backfill   " not in out


@pytest.mark.parametrize("variable", ["ENVMON_DASHBOARD_PORT", "ENVMON_ALERTS_HTTP_PORT", "ENVMON_HJ212_PORT"])
def test_demo_with_a_busy_port_names_it_and_exits_non_zero(demo_state_dir: Path, variable: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = int(held.getsockname()[1])
        done = envmon("demo", "--duration-seconds", "60", env=demo_env(demo_state_dir, **{variable: port}),
                      timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"port {port} on 127.0.0.1" in done.stderr and variable in done.stderr and "in use" in done.stderr
    status = launcher.status(demo_state_dir)
    assert not status.get("postgres", {}).get("running") and not status.get("mosquitto", {}).get("running")


def test_hj212_decode_reports_crc_with_expected_and_found() -> None:
    good = "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80"
    done = envmon("hj212", "decode", good)
    assert done.returncode == 0, done.stderr
    assert '"crc": "1C80"' in done.stdout
    bad = envmon("hj212", "decode", good[:-4] + "1C81")
    assert bad.returncode == 1
    assert "CRC mismatch: frame says 1C81, computed 1C80" in bad.stderr


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    # `envmon catalogue | head -0`: the reader is gone before anything is written (deterministic: the pipe's
    # read end is closed before the process starts). It used to end in "BrokenPipeError" on stderr.
    read_end, write_end = os.pipe()
    os.close(read_end)
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MQTT_URL", "ENVMON_CONFIG")}
    try:
        done = subprocess.run([sys.executable, "-m", "envmon_app", "catalogue"], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, env=base, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert done.stderr == "" and done.returncode == 141
