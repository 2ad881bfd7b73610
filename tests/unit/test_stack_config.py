"""The local stack's PostgreSQL configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from envmon.errors import StackError
from envmon.stack.mosquitto import Broker
from envmon.stack.postgres import (
    TIMESCALEDB_LIBRARY,
    PostgresCluster,
    TimescaleMode,
    _config_text,
    pkglibdir,
    preloads_timescaledb,
    shared_buffers_mb,
    timescaledb_library,
)


@pytest.mark.parametrize(
    ("ram_gib", "expected_mb"),
    [
        pytest.param(0.5, 128, id="small-machine-floor"),
        pytest.param(4, 512, id="an-eighth"),
        pytest.param(24, 2048, id="capped"),
    ],
)
def test_local_stack_shared_buffers_follow_memory(ram_gib: float, expected_mb: int) -> None:
    assert shared_buffers_mb(int(ram_gib * 1024**3)) == expected_mb


@pytest.mark.parametrize(
    ("files", "found"),
    [
        pytest.param([TIMESCALEDB_LIBRARY, "timescaledb-2.28.3.so", "plpgsql.so"], True, id="installed"),
        pytest.param(["plpgsql.so", "pgoutput.so"], False, id="plain-postgresql"),
        pytest.param(["timescaledb-2.28.3.so"], False, id="versioned-library-without-the-loader"),
        pytest.param([], False, id="empty-folder"),
    ],
)
def test_timescaledb_is_found_by_its_loader_library(tmp_path: Path, files: list[str], found: bool) -> None:
    for name in files:
        (tmp_path / name).write_bytes(b"\x7fELF")
    assert (timescaledb_library(tmp_path) is not None) is found


def test_a_folder_named_like_the_library_is_not_the_library(tmp_path: Path) -> None:
    (tmp_path / TIMESCALEDB_LIBRARY).mkdir()
    assert timescaledb_library(tmp_path) is None


@pytest.mark.parametrize(
    ("mode", "installed", "preload"),
    [
        pytest.param("auto", True, True, id="auto-installed"),
        pytest.param("auto", False, False, id="auto-plain"),
        pytest.param("off", True, False, id="off-installed-opts-out"),
        pytest.param("off", False, False, id="off-plain"),
        pytest.param("require", True, True, id="require-installed"),
    ],
)
def test_timescaledb_is_preloaded_when_installed_unless_opted_out(
    tmp_path: Path, mode: TimescaleMode, installed: bool, preload: bool
) -> None:
    library = tmp_path / TIMESCALEDB_LIBRARY if installed else None
    assert preloads_timescaledb(mode, library) is preload


def test_required_timescaledb_that_is_not_installed_is_a_clear_error() -> None:
    with pytest.raises(StackError, match="ENVMON_TIMESCALEDB=require"):
        preloads_timescaledb("require", None)


@pytest.mark.parametrize(
    ("timescaledb", "expected"),
    [
        pytest.param(True, ["shared_preload_libraries = 'timescaledb'", "timescaledb.telemetry_level = off"],
                     id="preloaded-without-telemetry"),
        pytest.param(False, [], id="plain"),
    ],
)
def test_configuration_preloads_timescaledb_only_when_decided(
    tmp_path: Path, timescaledb: bool, expected: list[str]
) -> None:
    text = _config_text(PostgresCluster(tmp_path, 5432, "pw"), timescaledb=timescaledb)
    assert [line for line in text.splitlines() if "timescaledb" in line] == expected


def test_library_folder_falls_back_to_the_installation_lib_folder(tmp_path: Path) -> None:
    bindir = tmp_path / "15" / "bin"
    bindir.mkdir(parents=True)
    assert pkglibdir(bindir) == tmp_path / "15" / "lib"


BROKER = Broker(Path("/srv/mq"), 1883)
CLUSTER = PostgresCluster(Path("/srv/pg"), 5432, "pw")


@pytest.mark.parametrize(
    ("server", "attribute", "name"),
    [
        pytest.param(BROKER, "config_file", "mosquitto.conf", id="broker-config"),
        pytest.param(BROKER, "password_file", "passwd", id="broker-passwords"),
        pytest.param(BROKER, "acl_file", "acl", id="broker-acl"),
        pytest.param(BROKER, "log_file", "mosquitto.log", id="broker-log"),
        pytest.param(BROKER, "pid_file", "mosquitto.pid", id="broker-pid"),
        pytest.param(CLUSTER, "data_dir", "data", id="cluster-data"),
        pytest.param(CLUSTER, "log_file", "postgres.log", id="cluster-log"),
    ],
)
def test_server_files_live_in_its_folder(server: Broker | PostgresCluster, attribute: str, name: str) -> None:
    assert getattr(server, attribute) == server.root / name


@pytest.mark.parametrize(
    ("durable", "timescaledb", "workers_off"),
    [
        pytest.param(False, True, True, id="test-cluster-runs-no-timescaledb-jobs"),
        pytest.param(True, True, False, id="demo-and-bench-clusters-run-the-policies"),
        pytest.param(False, False, False, id="plain-test-cluster-has-no-such-setting"),
    ],
)
def test_only_throw_away_timescaledb_clusters_run_no_background_jobs(
    tmp_path: Path, durable: bool, timescaledb: bool, workers_off: bool
) -> None:
    text = _config_text(PostgresCluster(tmp_path, 5432, "pw", durable=durable), timescaledb=timescaledb)
    assert ("timescaledb.max_background_workers = 0" in text.splitlines()) is workers_off
