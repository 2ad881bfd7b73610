"""The registry watcher: one debounced call per committed change, and a full reload after a lost connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from envmon.registry.watch import REGISTRY_TABLES, RegistryWatcher
from tests.alert_helpers import load_alert_registry, wait_until
from tests.patience import patience

NAME = "envmon-test-registry-watch"


class Calls:
    """What the watcher reported, in order."""

    def __init__(self) -> None:
        self.tables: list[frozenset[str]] = []
        self._lock = threading.Lock()

    def __call__(self, tables: frozenset[str]) -> None:
        with self._lock:
            self.tables.append(tables)

    def count(self) -> int:
        with self._lock:
            return len(self.tables)


@pytest.fixture
def watched(database_url: str) -> Iterator[tuple[RegistryWatcher, Calls]]:
    calls = Calls()
    watcher = RegistryWatcher(database_url, calls, name=NAME)
    watcher.start()
    assert watcher.listening.wait(patience(10))
    assert wait_until(lambda: calls.count() == 1)
    yield watcher, calls
    watcher.stop()


def test_the_first_listen_reports_every_table(watched: tuple[RegistryWatcher, Calls]) -> None:
    assert watched[1].tables == [REGISTRY_TABLES]


def test_a_bulk_load_is_one_call_naming_its_tables(watched: tuple[RegistryWatcher, Calls], database_url: str) -> None:
    _, calls = watched
    load_alert_registry(database_url)
    assert wait_until(lambda: calls.count() >= 2)
    assert calls.tables[1] >= {"districts", "sites", "devices", "limits", "recipients", "escalation_chains"}
    with psycopg.connect(database_url) as conn:  # a change of a table outside the registry says nothing
        conn.execute("INSERT INTO audit_log (actor, action, entity) VALUES ('t', 't', 't')")
        conn.execute("UPDATE devices SET active = false")
    assert wait_until(lambda: calls.count() >= 3)
    assert calls.tables[2:] == [frozenset({"devices"})]


def test_after_a_lost_connection_it_reconnects_and_reports_everything(
    watched: tuple[RegistryWatcher, Calls], database_url: str
) -> None:
    watcher, calls = watched
    with psycopg.connect(database_url, autocommit=True) as admin:
        killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                               (NAME,)).fetchall()
        assert killed == [(True,)]
        # Notifications sent while it is away are lost: the reconnect must count as a change of everything.
        assert wait_until(lambda: calls.count() >= 2)
        assert calls.tables[1] == REGISTRY_TABLES
        assert watcher.listening.wait(patience(10))
        admin.execute("INSERT INTO districts (code, name_zh, name_en) VALUES ('zz', '测试', 'Test')")
    assert wait_until(lambda: frozenset({"districts"}) in calls.tables[2:])
