"""Missing minute, hour and day data from HJ 212 loggers: which interval to ask them to resend, until it came.

Pure logic (`HistoryTracker`, `now` passed in): `observe(device, basis, data_time, now)` on each
upload opens a gap window for the intervals skipped between the latest data time and this one;
`filled(...)` after a commit removes stored intervals and closes a window once none is missing;
`due(device, now)` gives the history requests (CN 2051/2061/2031) to send while the logger is
connected. Bounds: a window longer than `max_back` of its basis is not requested (a logger offline
for weeks is a device fault, not a resend), a logger has at most `max_open_per_logger` windows, a
window is asked for at most `max_attempts` times `retry_seconds` apart, and a logger gets at most one
request per `min_request_seconds`.

Across a restart (`HistoryMonitor`, `HistoryStore`): the latest data time per logger and basis is
read from `readings` (committed with the rows themselves, so it never lags), and the windows still
open (`hj212_history_requests`, migration 0019) come back with their attempts and with what is still
missing recomputed from `readings`, so the first upload after the restart asks for exactly the span
still missed. Every window is recorded when it opens, each request, and how it closed (filled,
abandoned, expired).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import psycopg

from envmon.db import Reconnecting
from envmon.domain import BASES
from ingest.batches import StoredBatch

log = logging.getLogger(__name__)

STEPS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
HISTORY_CN = {"minute": "2051", "hour": "2061", "day": "2031"}
# How long a window may be and still be asked for: about what loggers keep (HJ 212 leaves it to them).
MAX_BACK = {"minute": timedelta(days=2), "hour": timedelta(days=7), "day": timedelta(days=31)}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# How soon a failed restore (database away at start) is tried again, on an upload.
RESTORE_RETRY = timedelta(seconds=10)

ChangeKind = Literal["opened", "requested", "filled", "abandoned", "expired"]


@dataclass(frozen=True)
class HistoryPolicy:
    """The bounds on asking loggers for history data."""

    max_back: Mapping[str, timedelta] = field(default_factory=lambda: dict(MAX_BACK))
    retry_seconds: float = 300.0
    max_attempts: int = 3
    max_open_per_logger: int = 8
    min_request_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """Ask `device` for its `basis` data from `begin` to `end` (inclusive data times)."""

    device: str
    basis: str
    begin: datetime
    end: datetime
    attempt: int

    @property
    def cn(self) -> str:
        """The HJ 212 command of this request."""
        return HISTORY_CN[self.basis]


@dataclass(frozen=True, slots=True)
class WindowChange:
    """Something that happened to a gap window, for the store; `begin` names the window."""

    kind: ChangeKind
    device: str
    basis: str
    begin: datetime
    end: datetime
    attempts: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OpenWindow:
    """A window still open when the process stopped, with the data times still missing from it."""

    device: str
    basis: str
    begin: datetime
    end: datetime
    attempts: int
    missing: frozenset[datetime]


@dataclass
class _Window:
    basis: str
    begin: datetime
    end: datetime
    missing: set[datetime]
    attempts: int = 0
    requested_at: datetime | None = None

    def change(self, kind: ChangeKind, device: str, at: datetime) -> WindowChange:
        return WindowChange(kind, device, self.basis, self.begin, self.end, self.attempts, at)


class HistoryTracker:
    """The latest data time per logger and basis, and the gap windows behind it."""

    def __init__(self, policy: HistoryPolicy | None = None) -> None:
        self.policy = policy or HistoryPolicy()
        self._last: dict[tuple[str, str], datetime] = {}
        self._windows: dict[str, list[_Window]] = {}
        self._sent_at: dict[str, datetime] = {}

    def windows(self, device: str) -> list[tuple[str, datetime, datetime, int]]:
        """(basis, begin, end, attempts) of the logger's open windows, oldest first."""
        return [(w.basis, w.begin, w.end, w.attempts) for w in sorted(self._windows.get(device, []),
                                                                       key=lambda w: (w.begin, w.basis))]

    def restore(self, device: str, basis: str, last: datetime | None, windows: Iterable[OpenWindow],
                now: datetime) -> list[WindowChange]:
        """Start a logger's `basis` at its stored latest data time with its still open windows (no-op
        once data was seen); windows with nothing missing or past `max_back` are closed."""
        if (device, basis) in self._last or basis not in STEPS:
            return []
        if last is not None:
            self._last[(device, basis)] = last
        changes: list[WindowChange] = []
        for stored in windows:
            window = _Window(basis, stored.begin, stored.end, set(stored.missing), stored.attempts)
            if not window.missing:
                changes.append(window.change("filled", device, now))
            elif now - window.end > self.policy.max_back[basis]:
                changes.append(window.change("expired", device, now))
            else:
                self._windows.setdefault(device, []).append(window)
        return changes

    def observe(self, device: str, basis: str, data_time: datetime, now: datetime) -> list[WindowChange]:
        """Record an upload's data time; opens a window when intervals were skipped since the latest."""
        step = STEPS.get(basis)
        if step is None:
            return []
        key = (device, basis)
        last = self._last.get(key)
        if last is None or data_time > last:
            self._last[key] = data_time
        if last is None or data_time - last <= step:
            return []
        begin, end = last + step, data_time - step
        if end - begin > self.policy.max_back[basis]:
            return []
        window = _Window(basis, begin, end, {begin + i * step for i in range((end - begin) // step + 1)})
        windows = self._windows.setdefault(device, [])
        windows.append(window)
        changes = [window.change("opened", device, now)]
        while len(windows) > self.policy.max_open_per_logger:  # the oldest gives way: it is least likely kept
            oldest = min(windows, key=lambda w: w.begin)
            windows.remove(oldest)
            changes.append(oldest.change("abandoned", device, now))
        return changes

    def filled(self, device: str, basis: str, data_times: Iterable[datetime], now: datetime) -> list[WindowChange]:
        """Record stored data times; closes the windows with nothing missing any more."""
        windows = self._windows.get(device)
        if not windows:
            return []
        times = set(data_times)
        changes: list[WindowChange] = []
        for window in [w for w in windows if w.basis == basis]:
            window.missing -= times
            if not window.missing:
                windows.remove(window)
                changes.append(window.change("filled", device, now))
        return changes

    def due(self, device: str, now: datetime) -> tuple[list[HistoryRequest], list[WindowChange]]:
        """The request to send this logger now (at most one), and the changes it makes."""
        sent = self._sent_at.get(device)
        if sent is not None and (now - sent).total_seconds() < self.policy.min_request_seconds:
            return [], []
        changes: list[WindowChange] = []
        windows = self._windows.get(device, [])
        retry = timedelta(seconds=self.policy.retry_seconds)
        for window in sorted(windows, key=lambda w: (w.begin, w.basis)):
            if window.requested_at is not None and now - window.requested_at < retry:
                continue
            if window.attempts >= self.policy.max_attempts:
                windows.remove(window)
                changes.append(window.change("abandoned", device, now))
                continue
            window.attempts, window.requested_at = window.attempts + 1, now
            self._sent_at[device] = now
            changes.append(window.change("requested", device, now))
            # Only what is still missing: earlier answers may have filled part of the window.
            request = HistoryRequest(device, window.basis, min(window.missing), max(window.missing), window.attempts)
            return [request], changes
        return [], changes


_LATEST = """
SELECT d.mn, b.basis, latest.time
FROM devices d
CROSS JOIN unnest(%(bases)s::text[]) AS b(basis)
CROSS JOIN LATERAL (
    SELECT max(r.time) AS time FROM unnest(d.pollutants) AS p(code)
    CROSS JOIN LATERAL (SELECT time FROM readings
                        WHERE device_id = d.id AND pollutant = p.code AND basis = b.basis
                        ORDER BY time DESC LIMIT 1) r
) latest
WHERE d.transport = 'hj212' AND d.active AND latest.time IS NOT NULL
"""
_OPEN = """
SELECT d.mn, d.id, h.basis, h.begin_time, h.end_time, h.attempts FROM hj212_history_requests h
JOIN devices d ON d.id = h.device_id WHERE h.closed_at IS NULL ORDER BY d.mn, h.begin_time
"""
# Per registered pollutant, so each probe is a range of the readings key (device, pollutant, basis, time).
_PRESENT = """
SELECT DISTINCT r.time FROM devices d CROSS JOIN unnest(d.pollutants) AS p(code)
JOIN readings r ON r.device_id = d.id AND r.pollutant = p.code AND r.basis = %s AND r.time BETWEEN %s AND %s
WHERE d.id = %s
"""
_OPENED = """
INSERT INTO hj212_history_requests (device_id, basis, begin_time, end_time, opened_at)
SELECT id, %(basis)s, %(begin)s, %(end)s, %(at)s FROM devices WHERE mn = %(mn)s
ON CONFLICT (device_id, basis, begin_time) WHERE closed_at IS NULL DO NOTHING
"""
_WHERE_OPEN = ("WHERE device_id = (SELECT id FROM devices WHERE mn = %(mn)s) AND basis = %(basis)s "
               "AND begin_time = %(begin)s AND closed_at IS NULL")
_REQUESTED = f"UPDATE hj212_history_requests SET attempts = %(attempts)s, requested_at = %(at)s {_WHERE_OPEN}"
_CLOSED = f"UPDATE hj212_history_requests SET closed_at = %(at)s, outcome = %(kind)s {_WHERE_OPEN}"


def load_history(conn: psycopg.Connection) -> tuple[dict[tuple[str, str], datetime], dict[tuple[str, str],
                                                                                          list[OpenWindow]]]:
    """Latest stored data time per active HJ 212 logger and basis, and the open windows with what they miss."""
    latest = {(str(mn), str(basis)): time for mn, basis, time in
              conn.execute(_LATEST, {"bases": list(STEPS)})}
    windows: dict[tuple[str, str], list[OpenWindow]] = {}
    for mn, device_id, basis, begin, end, attempts in conn.execute(_OPEN).fetchall():
        step = STEPS[basis]
        present = {row[0] for row in conn.execute(_PRESENT, [basis, begin, end, device_id])}
        expected = {begin + i * step for i in range((end - begin) // step + 1)}
        windows.setdefault((str(mn), str(basis)), []).append(
            OpenWindow(str(mn), str(basis), begin, end, int(attempts), frozenset(expected - present)))
    return latest, windows


def save_changes(conn: psycopg.Connection, changes: list[WindowChange]) -> None:
    """Record window changes in order, in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        for c in changes:
            params = {"mn": c.device, "basis": c.basis, "begin": c.begin, "end": c.end, "attempts": c.attempts,
                      "at": c.at, "kind": c.kind}
            sql = {"opened": _OPENED, "requested": _REQUESTED}.get(c.kind, _CLOSED)
            cur.execute(sql, params)


class HistoryStore:
    """Where the gateway keeps its windows between runs (a connection of its own, reopened on error)."""

    def __init__(self, database_url: str) -> None:
        self._db = Reconnecting(database_url, application="envmon-hj212-history", autocommit=True)

    def load(self) -> tuple[dict[tuple[str, str], datetime], dict[tuple[str, str], list[OpenWindow]]]:
        """See `load_history`; psycopg.Error when the database is away."""
        return load_history(self._db.connection())

    def save(self, changes: list[WindowChange]) -> None:
        """See `save_changes`; psycopg.Error when the database is away (the connection is then closed)."""
        self._db.attempt(lambda conn: save_changes(conn, changes))

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        self._db.close()


class HistoryMonitor:
    """The gateway's tracker with its store: uploads open windows, committed batches fill them.

    `on_upload` runs on the gateway's event loop and never touches the database; `flush` (in a
    worker thread) and `on_batch` (the pipeline's subscriber thread) write the changes.
    """

    def __init__(self, store: HistoryStore | None, tracker: HistoryTracker | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.tracker = tracker or HistoryTracker()
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()  # the tracker and the pending changes
        self._save_lock = threading.Lock()  # one write at a time, in order; never held by on_upload
        self._pending: list[WindowChange] = []
        self._saving = False
        self._restored = store is None
        self._next_restore = datetime.min.replace(tzinfo=UTC)

    @property
    def pending(self) -> bool:
        """True when changes wait to be written or are being written (`flush` then waits for that write)."""
        return (bool(self._pending) or self._saving) and self._store is not None

    def _record(self, changes: list[WindowChange]) -> None:
        # Called under _lock. Without a store nothing is written, so nothing is kept either.
        if self._store is not None:
            self._pending += changes

    def needs_restore(self) -> bool:
        """True while the stored state was not read yet and a try is due (the database was away at start)."""
        return not self._restored and self._clock() >= self._next_restore

    def restore(self) -> bool:
        """Seed the tracker from the store (before the first upload); False when that failed (tried
        again `RESTORE_RETRY` later through `needs_restore`: loggers not seen since keep their gaps)."""
        if self._store is None:
            return True
        now = self._clock()
        try:
            latest, windows = self._store.load()
        except psycopg.Error as exc:
            log.warning("HJ 212 history tracking not restored yet (stored state not read): %s", exc)
            self._store.close()
            self._next_restore = now + RESTORE_RETRY
            return False
        self._restored = True
        with self._lock:
            for device, basis in sorted(latest.keys() | windows.keys()):
                self._record(self.tracker.restore(device, basis, latest.get((device, basis)),
                                                  windows.get((device, basis), []), now))
        log.info("HJ 212 history tracking restored: %d logger bases, %d open windows", len(latest),
                 sum(map(len, windows.values())))
        self.flush()
        return True

    def on_upload(self, device: str, basis: str, data_time: datetime) -> list[HistoryRequest]:
        """An upload was received: the history request to send the logger now, if any."""
        now = self._clock()
        with self._lock:
            self._record(self.tracker.observe(device, basis, data_time, now))
            requests, changes = self.tracker.due(device, now)
            self._record(changes)
        return requests

    def on_batch(self, batch: StoredBatch) -> None:
        """Committed readings fill windows; a closed window is written at once."""
        readings = batch.readings
        heads = readings.sample_starts()
        heads = heads[readings.basis[heads] > 0]  # instant data fills no window
        if not heads.size:
            return
        stored: dict[tuple[int, int], set[int]] = {}
        for device_id, basis, time_us in zip(readings.device_id[heads].tolist(), readings.basis[heads].tolist(),
                                             readings.time_us[heads].tolist(), strict=True):
            stored.setdefault((device_id, basis), set()).add(time_us)
        now = self._clock()
        with self._lock:
            for (device_id, basis), times in stored.items():
                try:
                    info = batch.directory.get(batch.directory.mn_of(device_id))
                except KeyError:  # removed from the registry since: its windows stay as they are
                    continue
                if info is not None and info.transport == "hj212":
                    when = (_EPOCH + timedelta(microseconds=t) for t in times)
                    self._record(self.tracker.filled(info.mn, BASES[basis], when, now))
        self.flush()

    def flush(self) -> None:
        """Write the pending changes; kept for the next call when the database is away."""
        with self._save_lock:
            with self._lock:
                changes, self._pending = self._pending, []
                self._saving = bool(changes)
            if not changes or self._store is None:
                return
            try:
                self._store.save(changes)
            except psycopg.Error as exc:
                log.warning("HJ 212 history windows not saved (tried again later): %s", exc)
                with self._lock:
                    self._pending = changes + self._pending
                return
            finally:
                with self._lock:
                    self._saving = False
        for c in changes:
            if c.kind != "requested":
                log.info("HJ 212 history window of %s %s %s..%s %s", c.device, c.basis, c.begin.isoformat(),
                         c.end.isoformat(), c.kind)

    def close(self) -> None:
        """Write what is pending and close the store's connection."""
        self.flush()
        if self._store is not None:
            self._store.close()
