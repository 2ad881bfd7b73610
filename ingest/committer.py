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
from envmon.db import close_quietly
from ingest import writer
from ingest.batches import PreparedBatch
from ingest.errors import WriteError
from ingest.metrics import IngestMetrics

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

    def connect(self) -> None:
        """Open the connection now (psycopg.Error when the database cannot be reached)."""
        self._connection()

    def commit(self, batch: PreparedBatch, stop: threading.Event) -> writer.WriteResult | None:
        """Store the batch; None when `stop` was set while the database was away (nothing stored)."""
        delay = 0.1
        while True:
            try:
                return writer.write_batch(self._connection(), batch.readings, batch.quarantine, batch.copy_data)
            except (WriteError, psycopg.OperationalError) as exc:
                self._metrics.database_errors.inc()
                if _is_content_error(exc) and self._conn is not None and not self._conn.closed:
                    return self._commit_one_by_one(batch)
                log.warning("database unavailable, retrying in %.1f s (nothing acknowledged): %s", delay, exc)
                self.close()
                if stop.wait(delay):
                    log.warning("stopping while the database is away: %d messages stay unacknowledged",
                                len(batch.items))
                    return None
                delay = min(delay * 2, self._retry_max_seconds)

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
            except WriteError as exc:
                log.error("database refused a message from %s: %s", item.origin, exc)
                quarantine.append(item.quarantined("database_rejected", str(exc)))
        writer.write_batch(conn, ReadingColumns.empty(), quarantine)
        return writer.WriteResult(inserted, duplicates, len(quarantine))

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


def _is_content_error(exc: Exception) -> bool:
    """True when the database refused the data itself, not because it was unreachable."""
    cause = exc.__cause__ if isinstance(exc, WriteError) else exc
    return isinstance(cause, psycopg.Error) and not isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError)
