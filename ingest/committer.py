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
from collections.abc import Callable

import numpy as np
import psycopg

from envmon.columns import ReadingColumns
from envmon.db import DATABASE_AWAY, Backoff, Reconnecting
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
        self._metrics = metrics
        self._on_connect = on_connect
        self._db = Reconnecting(database_url, application=name, backoff=Backoff(max_seconds=retry_max_seconds),
                                on_connect=self._prepare)

    @property
    def retrying_since(self) -> float | None:
        """Monotonic time of the first failed attempt of the batch being retried (None: not retrying)."""
        return self._db.retrying_since

    @property
    def retry_delay_seconds(self) -> float:
        """How long to wait before the next attempt, by the one reconnect policy."""
        return self._db.delay_seconds

    def connect(self) -> None:
        """Open the connection now (psycopg.Error when the database cannot be reached)."""
        try:
            self._db.connection()
        except psycopg.Error:
            self._db.failed()
            raise
        self._db.succeeded()

    def commit(self, batch: PreparedBatch, stop: threading.Event) -> writer.WriteResult | None:
        """Store the batch; None when `stop` was set while the database was away (nothing stored).

        Only an unreachable database is retried. Anything else (the database refusing the data, or
        an error building a statement from it) is the content's fault: the batch is then stored
        message by message, and what cannot be stored is quarantined, so no content stops this thread.
        """
        while True:
            try:
                result = self._store(batch)
                self._db.succeeded()
                return result
            except Exception as exc:  # the database away (content errors never get here)
                self._metrics.database_errors.inc()
                delay = self._db.failed()
                log.warning("database unavailable, retrying in %.1f s (nothing acknowledged): %s", delay, exc)
                if stop.wait(delay):
                    log.warning("stopping while the database is away: %d messages stay unacknowledged",
                                len(batch.items))
                    return None

    def _store(self, batch: PreparedBatch) -> writer.WriteResult:
        """The batch in one COPY, or message by message when its content was refused; connection
        errors are raised for `commit` to retry."""
        conn = self._db.connection()
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
        conn = self._db.connection()
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

    def _prepare(self, conn: psycopg.Connection) -> None:
        writer.prepare(conn)
        self._on_connect()

    def close(self) -> None:
        """Close the connection (a later commit opens a new one)."""
        self._db.close()


def _is_content_error(exc: BaseException) -> bool:
    """True when the data itself was refused (by the database, or while building a statement from
    it), not because the database was unreachable."""
    cause = exc.__cause__ if isinstance(exc, WriteError) and exc.__cause__ is not None else exc
    if isinstance(cause, DATABASE_AWAY):
        return False
    return isinstance(cause, Exception) and not isinstance(cause, WriteError)
