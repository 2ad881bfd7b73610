"""The stack launcher: start, reuse, report, stop, with its own PostgreSQL and Mosquitto."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from envmon.migrate import migrate
from envmon.stack import launcher, mosquitto, postgres
from envmon.stack.processes import is_port_open
from tests.conftest import MIGRATIONS, make_state_dir
from tests.mqtt_helpers import connect


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = make_state_dir("envmon-stack-test-")
    try:
        yield path
    finally:
        launcher.down(path)
        shutil.rmtree(path, ignore_errors=True)


def test_up_status_reuse_down(state_dir: Path) -> None:
    assert launcher.status(state_dir) == {"state_dir": str(state_dir), "configured": False}
    state = launcher.up(state_dir, durable=False)

    info = launcher.status(state_dir)
    assert info["postgres"]["running"] and info["mosquitto"]["running"]
    with psycopg.connect(state.database_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("envmon",)
    svc = connect(state.mqtt_port, mosquitto.SERVICE_USER, state.mqtt_users[mosquitto.SERVICE_USER])
    assert svc.connect_reason is not None and not svc.connect_reason.is_failure
    svc.close()

    again = launcher.up(state_dir, durable=False)
    assert (again.pg_port, again.mqtt_port, again.pg_password) == (state.pg_port, state.mqtt_port, state.pg_password)
    assert launcher.status(state_dir)["mosquitto"]["pid"] == info["mosquitto"]["pid"]

    assert launcher.down(state_dir) is True
    info = launcher.status(state_dir)
    assert not info["postgres"]["running"] and not info["mosquitto"]["running"]
    assert not is_port_open(state.pg_port) and not is_port_open(state.mqtt_port)


def test_restart_keeps_data_and_settings(state_dir: Path) -> None:
    state = launcher.up(state_dir, durable=False)
    with psycopg.connect(state.database_url) as conn:
        conn.execute("CREATE TABLE kept (x integer)")
        conn.execute("INSERT INTO kept VALUES (42)")
    launcher.down(state_dir)
    state = launcher.up(state_dir, durable=False)
    with psycopg.connect(state.database_url) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)


def test_state_file_is_private_and_names_the_urls(state_dir: Path) -> None:
    state = launcher.up(state_dir, durable=False)
    path = launcher.state_file(state_dir)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert state.database_url in text and f"127.0.0.1:{state.mqtt_port}" in text


def test_taken_port_is_a_clear_error(state_dir: Path) -> None:
    import socket

    from envmon.errors import StackError

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} is taken"):
            launcher.up(state_dir, pg_port=port, durable=False)


def _preloaded_and_flavour(state: launcher.StackState, dbname: str) -> tuple[bool, str]:
    postgres.ensure_database(state.cluster, dbname)
    with psycopg.connect(state.cluster.url(dbname)) as conn:
        preload = str(conn.execute("SHOW shared_preload_libraries").fetchone()[0])  # type: ignore[index]
    return "timescaledb" in preload, migrate(state.cluster.url(dbname), MIGRATIONS).flavour


def test_stack_uses_timescaledb_exactly_when_installed_and_off_opts_out(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = postgres.timescaledb_library(postgres.pkglibdir(postgres.find_bindir())) is not None
    monkeypatch.delenv("ENVMON_TIMESCALEDB", raising=False)
    state = launcher.up(state_dir, durable=False)
    assert _preloaded_and_flavour(state, "auto_db") == (installed, "timescaledb" if installed else "postgres")

    launcher.down(state_dir)
    monkeypatch.setenv("ENVMON_TIMESCALEDB", "off")
    state = launcher.up(state_dir, durable=False)
    assert _preloaded_and_flavour(state, "off_db") == (False, "postgres")
