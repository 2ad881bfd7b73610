"""Database connections: the one place that opens psycopg connections and pools, with one reconnect policy.

Every service thread that keeps a connection holds a `Reconnecting`: it opens on first use, and after
the database went away it is closed, reopened on the next use, and tells health since when it has been
retrying. Waits between attempts follow `Backoff`, the one reconnect policy.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from envmon.settings import Settings

APPLICATION_NAME = "envmon"
# Long enough for a loaded database to answer, short enough that a thread notices it is away.
CONNECT_TIMEOUT_SECONDS = 5
# The database is unreachable (rather than refusing what was sent): retry these, never quarantine.
DATABASE_AWAY: tuple[type[psycopg.Error], ...] = (psycopg.OperationalError, psycopg.InterfaceError)

T = TypeVar("T")


def connect_url(
    url: str, *, autocommit: bool = False, application: str = APPLICATION_NAME,
    connect_timeout_seconds: int = CONNECT_TIMEOUT_SECONDS,
) -> psycopg.Connection:
    """A single connection to `url` (psycopg.Error when it cannot be reached)."""
    return psycopg.connect(url, autocommit=autocommit, application_name=application,
                           connect_timeout=connect_timeout_seconds)


def connect(settings: Settings, *, autocommit: bool = False, application: str = APPLICATION_NAME) -> psycopg.Connection:
    """A single connection to the configured database."""
    return connect_url(settings.require_database_url(), autocommit=autocommit, application=application,
                       connect_timeout_seconds=10)


def open_pool(
    settings: Settings, *, min_size: int = 1, max_size: int = 8, application: str = APPLICATION_NAME,
    autocommit: bool = False, prepare_threshold: int | None = 5,
) -> ConnectionPool:
    """A connection pool owned by the caller's entry point (open it there, close it there).

    `prepare_threshold`: psycopg prepares a statement on its that-many-th run on a connection (5, its default);
    None never prepares (see dashboard/app.py)."""
    return ConnectionPool(
        settings.require_database_url(),
        min_size=min_size,
        max_size=max_size,
        open=True,
        kwargs={"autocommit": autocommit, "application_name": application, "connect_timeout": 10,
                "prepare_threshold": prepare_threshold},
    )


def close_quietly(conn: psycopg.Connection | None) -> None:
    """Close a connection that may be broken already (a database gone away); None is fine."""
    if conn is not None:
        with contextlib.suppress(psycopg.Error):
            conn.close()


def redact_url(url: str) -> str:
    """A URL with its password replaced by ***, for logs and banners."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


@dataclass(frozen=True, slots=True)
class Backoff:
    """The reconnect policy: wait `first_seconds` after a failure, doubling up to `max_seconds`."""

    first_seconds: float = 0.1
    max_seconds: float = 5.0

    def delay_seconds(self, failures: int) -> float:
        """How long to wait after the `failures`-th failure in a row (1 is the first)."""
        return min(self.first_seconds * 2.0 ** max(failures - 1, 0), self.max_seconds)


class Reconnecting:
    """One connection, opened on first use and reopened after a failure; used by one thread at a time.

    `retrying_since` (monotonic seconds, None when healthy) is what health checks read to tell a
    database away for longer than their bound.
    """

    def __init__(
        self, url: str, *, application: str, autocommit: bool = False, backoff: Backoff = Backoff(),
        on_connect: Callable[[psycopg.Connection], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._application = application
        self._autocommit = autocommit
        self._on_connect = on_connect
        self._clock = clock
        self.backoff = backoff
        self._conn: psycopg.Connection | None = None
        self.failures = 0
        self.retrying_since: float | None = None

    @property
    def is_open(self) -> bool:
        """Whether a connection is open now (it may still turn out broken on its next use)."""
        return self._conn is not None and not self._conn.closed

    def connection(self) -> psycopg.Connection:
        """The open connection, opening it (and running `on_connect`) first when needed.

        psycopg.Error when the database cannot be reached; the caller reports it with `failed`."""
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = connect_url(self._url, autocommit=self._autocommit, application=self._application)
        try:
            if self._on_connect is not None:
                self._on_connect(conn)
        except BaseException:
            close_quietly(conn)
            raise
        self._conn = conn
        return conn

    def attempt(self, work: Callable[[psycopg.Connection], T]) -> T:
        """`work(connection)`; after a psycopg.Error the connection is dropped (and the error raised again)."""
        try:
            result = work(self.connection())
        except psycopg.Error:
            self.failed()
            raise
        self.succeeded()
        return result

    def failed(self) -> float:
        """The connection failed: drop it, note since when, and return the seconds to wait before retrying."""
        self.close()
        self.failures += 1
        if self.retrying_since is None:
            self.retrying_since = self._clock()
        return self.backoff.delay_seconds(self.failures)

    def succeeded(self) -> None:
        """The database answered: no longer retrying."""
        self.failures = 0
        self.retrying_since = None

    @property
    def delay_seconds(self) -> float:
        """The wait the policy asks for after the failures so far (before the next attempt)."""
        return self.backoff.delay_seconds(self.failures)

    def retrying_longer_than(self, seconds: float) -> bool:
        """Whether the connection has been failing for more than `seconds`."""
        return self.retrying_since is not None and self._clock() - self.retrying_since > seconds

    def close(self) -> None:
        """Close the connection (the next use opens a new one)."""
        close_quietly(self._conn)
        self._conn = None
