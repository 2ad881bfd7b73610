"""Test harness: one PostgreSQL cluster and one Mosquitto per session, started by the stack launcher.

`make test` runs the suite in two pytest-xdist workers (`-n 2 --dist loadfile` in pyproject.toml): each
worker is a session of its own, with its own cluster and broker; a file's tests stay on one worker, so
module fixtures are set up once. Most tests wait on processes and sockets, so two workers halve the run
on two cores (24 min -> 12.6 min measured on 2026-12-05). `-p no:xdist` or `-n 0` runs in one process.

Nothing here skips: when a service cannot start, the fixtures raise and the tests fail.
With ENVMON_TEST_DATABASE_URL set (an admin URL of an external server, e.g. one with TimescaleDB),
test databases are created and dropped on that server instead of the private cluster.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import sql

from dashboard import passwords
from envmon.migrate import migrate
from envmon.stack import launcher
from envmon.stack.launcher import StackState
from tests.patience import patience

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
EXAMPLE_REGISTRY = ROOT / "examples" / "fengxian.toml"


# Files whose tests take longest (seconds per file, full run of 2026-12-05 14:14 on a loaded machine): they start
# first. pytest-xdist hands whole files to the two workers in collection order, so a long file started last ended
# the run alone (its default reordering, by number of tests, put these few-test files last); fast unit files now
# end the run.
LONG_FILES_SECONDS = {
    "tests/integration/test_chaos.py": 234,
    "tests/browser/test_dashboard_look.py": 224,
    "tests/browser/test_demo_alive_browser.py": 140,
    "tests/integration/test_ingest_faults.py": 119,
    "tests/integration/test_plant_answer_sim.py": 70,
    "tests/integration/test_alerts_sim.py": 22,
    "tests/integration/test_sim_end_to_end.py": 20,
    "tests/integration/test_watchdog.py": 19,
    "tests/integration/test_dashboard_schema.py": 14,
    "tests/browser/test_demo_faults_browser.py": 13,
    "tests/integration/test_alerts_heard.py": 12,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long files first, longest first; the rest in collection order (browser, integration, unit)."""
    def rank(item: pytest.Item) -> int:
        return -LONG_FILES_SECONDS.get(item.nodeid.split("::")[0], 0)

    items.sort(key=rank)  # stable: a file's tests keep their order


def make_state_dir(prefix: str) -> Path:
    """A temporary folder the servers can reach after dropping root (so not under pytest's 0700 tmp)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def stack() -> Iterator[StackState]:
    """The session's PostgreSQL (unless external) and Mosquitto."""
    state_dir = make_state_dir("envmon-test-")
    external = bool(os.environ.get("ENVMON_TEST_DATABASE_URL"))
    state = launcher.up(state_dir, durable=False, with_postgres=not external)
    try:
        yield state
    finally:
        launcher.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def admin_url(stack: StackState) -> str:
    """A URL to a database on the test server from which databases can be created."""
    return os.environ.get("ENVMON_TEST_DATABASE_URL") or stack.admin_database_url


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@pytest.fixture
def fresh_database_url(admin_url: str) -> Iterator[str]:
    """An empty database of its own for one test, dropped afterwards."""
    name = f"envmon_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_dbname(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def migrated_template(admin_url: str) -> Iterator[str]:
    """One database with every migration applied, copied for each test: migrating all files for every test
    took minutes of each CI run."""
    name = f"envmon_template_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate(_with_dbname(admin_url, name), MIGRATIONS)
    _keep_sessions_away(admin_url, name)
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _keep_sessions_away(admin_url: str, name: str) -> None:
    """Close the template to connections and end its sessions: CREATE DATABASE ... TEMPLATE refuses a source
    with sessions. On TimescaleDB each copy restarted the template's job scheduler, which then waited for the
    copying transaction while that waited for it to leave (1 copy in 3 failed after 5 s); TimescaleDB
    leaves databases that allow no connections alone."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


class TemplateCopies:
    """Copies of the migrated template, made one ahead and dropped in a thread of their own.

    A copy took 0.3-0.7 s of the server and a drop 0.1 s, for each of about 500 tests: made while the test before
    runs (most wait on sockets and services), the next test rarely waits for its copy."""

    def __init__(self, admin_url: str, template: str) -> None:
        self._admin_url = admin_url
        self._template = template
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="envmon-test-databases")
        self._next: Future[str] | None = None
        self._drops: list[Future[None]] = []

    def take(self) -> str:
        """A fresh copy's name; starts making the next one."""
        ready = self._next or self._worker.submit(self._create)
        self._next = self._worker.submit(self._create)
        return ready.result()

    def give_back(self, name: str) -> None:
        """Drop this copy (in the background; `close` reports a failure)."""
        self._drops = [d for d in self._drops if not d.done() or d.exception() is not None]
        self._drops.append(self._worker.submit(self._drop, name))

    def close(self) -> None:
        """Drop the spare copy, wait for every drop, and raise the first that failed."""
        if self._next is not None and self._next.exception() is None:
            self.give_back(self._next.result())
        self._worker.shutdown(wait=True)
        for drop in self._drops:
            drop.result()

    def _create(self) -> str:
        name = f"envmon_test_{uuid.uuid4().hex[:12]}"
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(self._template))
        deadline = time.monotonic() + patience(5)
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            while True:  # the template's last session may still be closing on the server: poll until it has
                try:
                    conn.execute(create)
                    return name
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.1)

    def _drop(self, name: str) -> None:
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_copies(admin_url: str, migrated_template: str) -> Iterator[TemplateCopies]:
    """The session's maker of fresh migrated databases (closed before the template is dropped)."""
    copies = TemplateCopies(admin_url, migrated_template)
    try:
        yield copies
    finally:
        copies.close()


@pytest.fixture
def database_url(admin_url: str, template_copies: TemplateCopies) -> Iterator[str]:
    """A fresh database with every migration applied (a copy of the session's migrated template)."""
    name = template_copies.take()
    try:
        yield _with_dbname(admin_url, name)
    finally:
        template_copies.give_back(name)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to a fresh, migrated database."""
    with psycopg.connect(database_url) as conn:
        yield conn


def example_district_database(admin_url: str, name: str) -> str:
    """A database of this name (made anew), migrated, holding the example district's registry.

    Under pytest-xdist the worker's id is appended: workers may share an external server."""
    from envmon.registry.load import load_registry_file
    from envmon.registry.store import store_registry

    name = f"{name}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_dbname(admin_url, name)
    migrate(url, MIGRATIONS)
    with psycopg.connect(url) as conn:
        store_registry(conn, load_registry_file(EXAMPLE_REGISTRY), actor="test")
    return url


@pytest.fixture(scope="module")
def quick_password_hashes() -> Iterator[None]:
    """Dashboard passwords hashed and checked with argon2id at its lowest cost for a module's tests.

    At the production profile (64 MiB, t=3, p=4) each hash and each sign-in took 0.25 s: five users per test
    world and several sign-ins per test added minutes to every CI run. The tests that build worlds check who may
    do what, not the hash's cost; the unit tests keep the production hasher (tests/unit/test_dashboard_logic.py).
    """
    quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_HASHER", quick)
        # An unknown user costs as much as a known one, as in production.
        patch.setattr(passwords, "_DUMMY_HASH", quick.hash(uuid.uuid4().hex))
        yield


def server_has_timescaledb(url: str) -> bool:
    """True when migrations took the TimescaleDB path on this database."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None
