"""A private PostgreSQL cluster under the state folder, on loopback, managed with initdb/pg_ctl."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from envmon.db import connect_url
from envmon.errors import StackError
from envmon.stack.folder import ServerFile
from envmon.stack.processes import as_user, chown_tree, ensure_traversable, run, service_user

SUPERUSER = "envmon"
CONF_NAME = "envmon.conf"
# The loader library Timescale's packages (and a source build) put into the server's pkglibdir; it picks
# the versioned library of the extension installed in each database.
TIMESCALEDB_LIBRARY = "timescaledb.so"
TimescaleMode = Literal["auto", "require", "off"]


@dataclass(frozen=True)
class PostgresCluster:
    """Where a cluster lives and how to reach it."""

    root: Path
    port: int
    password: str
    durable: bool = True
    # ENVMON_TIMESCALEDB: preload TimescaleDB when installed (auto), insist on it (require), or never (off).
    timescaledb: TimescaleMode = "auto"

    data_dir = ServerFile("data")
    log_file = ServerFile("postgres.log")

    def url(self, dbname: str) -> str:
        """A libpq URL for one database of this cluster."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"


def find_bindir() -> Path:
    """The newest installed PostgreSQL server's bin folder."""
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if (Path(p) / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return candidates[0]
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise StackError("PostgreSQL server not found: run scripts/bootstrap (installs postgresql)")


def pkglibdir(bindir: Path) -> Path:
    """The server's library folder: `pg_config --pkglibdir` of the same installation, else its lib folder."""
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        try:
            return Path(run([str(pg_config), "--pkglibdir"], what="pg_config", timeout_seconds=30).strip())
        except StackError:
            pass
    return bindir.parent / "lib"


def timescaledb_library(libdir: Path) -> Path | None:
    """The TimescaleDB loader library in a server's library folder, or None when it is not installed."""
    path = libdir / TIMESCALEDB_LIBRARY
    return path if path.is_file() else None


def preloads_timescaledb(mode: TimescaleMode, library: Path | None) -> bool:
    """Whether the cluster preloads TimescaleDB: when installed, unless opted out; `require` insists."""
    if mode == "off":
        return False
    if mode == "require" and library is None:
        raise StackError(
            f"ENVMON_TIMESCALEDB=require but {TIMESCALEDB_LIBRARY} is not in the server's library folder: "
            "install TimescaleDB for this PostgreSQL, or set ENVMON_TIMESCALEDB=auto"
        )
    return library is not None


def shared_buffers_mb(ram_bytes: int | None = None) -> int:
    """An eighth of the machine's memory, from 128 MB to 2 GB.

    Ingest dirties the WAL distance between two checkpoints (about 2 GB at 180k readings/s) in fresh
    heap and index pages. With 512 MB, once the table outgrew it, every new page meant writing out a
    dirty one first, and COPY slowed by half over a 60 s `envmon bench ingest` (p99 0.9-1.3 s at 180k
    readings/s); with 2 GB it kept up (p99 0.5-0.9 s). The TimescaleDB image sizes its own with
    timescaledb-tune (a quarter of the memory).
    """
    if ram_bytes is None:
        ram_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(128, min(2048, ram_bytes // (8 * 1024 * 1024)))


def _config_text(cluster: PostgresCluster, *, timescaledb: bool = False) -> str:
    lines = [
        "# written by envmon stack; regenerated at every start",
        "listen_addresses = '127.0.0.1'",
        f"port = {cluster.port}",
        f"unix_socket_directories = '{cluster.root}'",
        "max_connections = 200",
        f"shared_buffers = '{shared_buffers_mb()}MB'",
        "work_mem = '16MB'",
        "maintenance_work_mem = '256MB'",
        "max_wal_size = '4GB'",
        "checkpoint_timeout = '15min'",
        "wal_compression = on",
        # New WAL segments are not zero-filled first (the file's last byte is written, fsync still
        # makes every commit durable). A young cluster has no old segments to recycle, so under load
        # it created a 16 MB segment every second or so and zeroing them was ~14 % of the ingest
        # backend's time (pg_stat_activity wait event WALInitWrite in `envmon bench ingest`).
        "wal_init_zero = off",
        "timezone = 'UTC'",
        "log_timezone = 'UTC'",
    ]
    if timescaledb:
        lines += [
            "shared_preload_libraries = 'timescaledb'",
            # A development or test cluster reports nothing to Timescale's telemetry server.
            "timescaledb.telemetry_level = off",
        ]
    if not cluster.durable:
        # Throw-away clusters for tests: crash safety is not worth the fsyncs.
        lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        if timescaledb:
            # Nor TimescaleDB's background jobs (aggregate refresh, compression, retention): no test waits for them
            # (tests call what they need), and each test database would run them beside the suite at random times.
            lines += ["timescaledb.max_background_workers = 0"]
    return "\n".join(lines) + "\n"


def init_cluster(cluster: PostgresCluster) -> None:
    """initdb the data folder (once) with a password-protected superuser."""
    if (cluster.data_dir / "PG_VERSION").exists():
        return
    user = service_user("postgres")
    cluster.root.mkdir(parents=True, exist_ok=True)
    if user is not None:
        ensure_traversable(cluster.root)
    pwfile = cluster.root / ".pwfile"
    pwfile.write_text(cluster.password + "\n", encoding="utf-8")
    pwfile.chmod(0o600)
    chown_tree(cluster.root, user)
    try:
        run(
            as_user(
                [
                    str(find_bindir() / "initdb"),
                    "-D",
                    str(cluster.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                ],
                user,
            ),
            what="initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    with (cluster.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(f"\ninclude_if_exists '{CONF_NAME}'\n")


def is_running(cluster: PostgresCluster) -> bool:
    """True when the cluster's postmaster runs (pg_ctl status)."""
    if not (cluster.data_dir / "PG_VERSION").exists():
        return False
    argv = as_user([str(find_bindir() / "pg_ctl"), "status", "-D", str(cluster.data_dir)], service_user("postgres"))
    try:
        run(argv, what="pg_ctl status", timeout_seconds=30)
    except StackError:
        return False
    return True


def start(cluster: PostgresCluster) -> None:
    """Write the configuration (preloading TimescaleDB when installed) and start the cluster; wait for it."""
    user = service_user("postgres")
    timescaledb = preloads_timescaledb(cluster.timescaledb, timescaledb_library(pkglibdir(find_bindir())))
    (cluster.data_dir / CONF_NAME).write_text(_config_text(cluster, timescaledb=timescaledb), encoding="utf-8")
    chown_tree(cluster.root, user)
    argv = [
        str(find_bindir() / "pg_ctl"),
        "start",
        "-D",
        str(cluster.data_dir),
        "-l",
        str(cluster.log_file),
        "-w",
        "-t",
        "90",
    ]
    try:
        run(as_user(argv, user), what="pg_ctl start", timeout_seconds=120)
    except StackError as exc:
        raise StackError(f"{exc}\n--- last lines of {cluster.log_file} ---\n{_tail(cluster.log_file)}") from exc


def stop(cluster: PostgresCluster, *, mode: str = "fast") -> None:
    """Stop the cluster (mode fast, smart or immediate); a stopped cluster is left alone."""
    if not is_running(cluster):
        return
    argv = [str(find_bindir() / "pg_ctl"), "stop", "-D", str(cluster.data_dir), "-m", mode, "-w", "-t", "90"]
    run(as_user(argv, service_user("postgres")), what="pg_ctl stop", timeout_seconds=120)


def postmaster_pid(cluster: PostgresCluster) -> int | None:
    """The postmaster's pid from postmaster.pid, or None."""
    try:
        return int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def ensure_database(cluster: PostgresCluster, dbname: str) -> None:
    """Create the database when it does not exist yet."""
    try:
        with connect_url(cluster.url("postgres"), autocommit=True, application="envmon-stack",
                         connect_timeout_seconds=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    except psycopg.Error as exc:
        raise StackError(f"cannot create database {dbname!r}: {exc}") from exc


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
