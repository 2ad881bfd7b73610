"""A committer: one database connection that stores prepared batches, retrying while the database is away.

The pipeline runs several, so one batch's commit (a WAL flush) and the round trips around it overlap
with the next batch's COPY: one connection left its PostgreSQL backend idle or waiting on I/O for a
quarter of the time at full load (`pg_stat_activity` in `envmon bench ingest`).

While the database is away a committer keeps its batch and retries with backoff; nothing of that batch
is acknowledged, so the broker keeps the messages. When the database refuses a batch for its content,
the batch is stored message by message and the refused messages are quarantined.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import psycopg

from envmon.columns import ReadingColumns
from envmon.db import close_quietly
from ingest import writer
from ingest.batches import PreparedBatch
from ingest.errors import WriteError
from ingest.metrics import IngestMetrics
from ingest.quarantine import QuarantineEntry

log = logging.getLogger(__name__)


class Committer:
    """Owns one connection; `commit` is called from one thread at a time."""

    def __init__(
        self,
        database_url: str,
        metrics: IngestMetrics,
        *,
        name: str = "envmon-ingest",
        retry_max_seconds: float = 5.0,
        on_connect: Callable[[], None] = lambda: None,
    ) -> None:
        self._url = database_url
        self._metrics = metrics
        self._name = name
        self._retry_max_seconds = retry_max_seconds
        self._on_connect = on_connect
        self._conn: psycopg.Connection | None = None
        # Monotonic time of the first failed attempt of the batch being retried (None: not retrying).
        self.retrying_since: float | None = None

    def connect(self) -> None:
        """Open the connection now (psycopg.Error when the database cannot be reached)."""
        try:
            self._connection()
        except psycopg.Error:
            if self.retrying_since is None:
                self.retrying_since = time.monotonic()
            raise
        self.retrying_since = None

    def commit(self, batch: PreparedBatch, stop: threading.Event) -> writer.WriteResult | None:
        """Store the batch; None when `stop` was set while the database was away (nothing stored).

        Only an unreachable database is retried. Anything else (the database refusing the data, or
        an error building a statement from it) is the content's fault: the batch is then stored
        message by message, and what cannot be stored is quarantined, so no content stops this thread.
        """
        delay = 0.1
        while True:
            try:
                result = self._store(batch)
                self.retrying_since = None
                return result
            except Exception as exc:  # the database away (content errors never get here)
                self._metrics.database_errors.inc()
                if self.retrying_since is None:
                    self.retrying_since = time.monotonic()
                log.warning("database unavailable, retrying in %.1f s (nothing acknowledged): %s", delay, exc)
                self.close()
                if stop.wait(delay):
                    log.warning("stopping while the database is away: %d messages stay unacknowledged",
                                len(batch.items))
                    return None
                delay = min(delay * 2, self._retry_max_seconds)

    def _store(self, batch: PreparedBatch) -> writer.WriteResult:
        """The batch in one COPY, or message by message when its content was refused; connection
        errors are raised for `commit` to retry."""
        conn = self._connection()
        try:
            return writer.write_batch(conn, batch.readings, batch.quarantine, batch.copy_data)
        except Exception as exc:
            if not _is_content_error(exc) or conn.closed:
                raise
            self._metrics.database_errors.inc()
            log.warning("the database refused a batch of %d messages for its content; storing them one by one: %s",
                        len(batch.items), exc)
            return self._commit_one_by_one(batch)

    def _commit_one_by_one(self, batch: PreparedBatch) -> writer.WriteResult:
        """A batch the database refused for its content: store item by item, quarantine the refused ones."""
        inserted = duplicates = 0
        conn = self._connection()
        quarantine = list(batch.quarantine)
        # Readings are in item order: item i's are bounds[i]:bounds[i + 1].
        bounds = np.searchsorted(batch.item_index, np.arange(len(batch.items) + 1))
        for i, item in enumerate(batch.items):
            if bounds[i] == bounds[i + 1]:
                continue
            try:
                result = writer.write_batch(conn, batch.readings.take(slice(bounds[i], bounds[i + 1])), [])
                inserted, duplicates = inserted + result.inserted, duplicates + result.duplicates
            except Exception as exc:
                if not _is_content_error(exc) or conn.closed:
                    raise
                log.error("database refused a message from %s: %s", item.origin, exc)
                quarantine.append(item.quarantined("database_rejected", f"{type(exc).__name__}: {exc}"))
        stored = sum(self._store_entry(conn, entry) for entry in quarantine)
        return writer.WriteResult(inserted, duplicates, stored)

    def _store_entry(self, conn: psycopg.Connection, entry: QuarantineEntry) -> int:
        """One quarantine row; reduced to ASCII when refused; 1 when stored, 0 when even that was refused."""
        for candidate in (entry, entry.plain()):
            try:
                writer.write_batch(conn, ReadingColumns.empty(), [candidate])
                return 1
            except Exception as exc:
                if not _is_content_error(exc) or conn.closed:
                    raise
                log.error("database refused a quarantine entry from %s (%s): %s", entry.source[:80], entry.reason, exc)
        return 0

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, application_name=self._name, connect_timeout=5)
            writer.prepare(self._conn)
            self._on_connect()
        return self._conn

    def close(self) -> None:
        """Close the connection (a later commit opens a new one)."""
        close_quietly(self._conn)
        self._conn = None


def _is_content_error(exc: BaseException) -> bool:
    """True when the data itself was refused (by the database, or while building a statement from
    it), not because the database was unreachable."""
    cause = exc.__cause__ if isinstance(exc, WriteError) and exc.__cause__ is not None else exc
    if isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    return isinstance(cause, Exception) and not isinstance(cause, WriteError)
