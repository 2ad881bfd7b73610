"""Turns stored batches into sequence tracking, and due gaps into resend requests to devices.

MQTT devices get `{"cmd": "resend", "first_seq": a, "last_seq": b, "attempt": n}` on their
`cmd` topic; they answer by publishing those messages again (same seq), and the database's
unique key makes any overlap harmless. See docs/mqtt.md.

Tracking survives a restart: before the first message, each MQTT device starts at its stored
`device_state.last_seq` (lags the readings by up to a second, so after a crash a device may be asked
once for a second's worth of messages already stored; the unique key ignores them), and the gaps
still open when the process stopped (`open_sequence_gaps`, rewritten once a second when they
change) are asked for again with their attempts counted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import psycopg

from envmon.columns import BASIS_INDEX
from envmon.db import Reconnecting, connect_url
from ingest.gaps import AbandonedGap, OpenGap, ResendRequest, SequenceTracker
from ingest.pipeline import StoredBatch

log = logging.getLogger(__name__)


_RECORD_GAP = """
INSERT INTO sequence_gaps (device_id, first_seq, last_seq, abandoned_at)
SELECT id, %(first)s, %(last)s, now() FROM devices WHERE mn = %(mn)s
"""


def record_abandoned_gap(database_url: str, gap: AbandonedGap) -> None:
    """Write a gap that never came back, for the alert engine's seq_gap rule (rare: one connection each)."""
    try:
        with connect_url(database_url, application="envmon-gaps") as conn:
            conn.execute(_RECORD_GAP, {"first": gap.first_seq, "last": gap.last_seq, "mn": gap.device})
    except psycopg.Error as exc:
        log.warning("could not record the abandoned gap of %s: %s", gap.device, exc)


_STORED_SEQS = """
SELECT d.mn, s.last_seq FROM device_state s JOIN devices d ON d.id = s.device_id
WHERE d.transport = 'mqtt' AND s.last_seq IS NOT NULL
"""

_OPEN_GAPS = """
SELECT d.mn, g.first_seq, g.last_seq, g.attempts FROM open_sequence_gaps g JOIN devices d ON d.id = g.device_id
WHERE g.ingest = %s ORDER BY d.mn, g.first_seq
"""

_REPLACE_OPEN_GAPS = """
INSERT INTO open_sequence_gaps (ingest, device_id, first_seq, last_seq, attempts)
SELECT %s, d.id, u.f, u.l, u.a FROM unnest(%s::text[], %s::int8[], %s::int8[], %s::int4[]) AS u(mn, f, l, a)
JOIN devices d ON d.mn = u.mn
"""


def load_tracking(conn: psycopg.Connection, owner: str) -> tuple[dict[str, int], dict[str, list[OpenGap]]]:
    """Stored highest seq per MQTT device, and the gaps `owner` left open, per device."""
    highs = {str(mn): int(seq) for mn, seq in conn.execute(_STORED_SEQS)}
    gaps: dict[str, list[OpenGap]] = {}
    for mn, first, last, attempts in conn.execute(_OPEN_GAPS, [owner]):
        gaps.setdefault(str(mn), []).append(OpenGap(str(mn), int(first), int(last), int(attempts)))
    return highs, gaps


def save_open_gaps(conn: psycopg.Connection, owner: str, gaps: list[OpenGap]) -> None:
    """Replace `owner`'s open gaps with these, in one transaction."""
    with conn.transaction():
        conn.execute("DELETE FROM open_sequence_gaps WHERE ingest = %s", [owner])
        if gaps:
            conn.execute(_REPLACE_OPEN_GAPS, [owner, [g.device for g in gaps], [g.first_seq for g in gaps],
                                              [g.last_seq for g in gaps], [g.attempts for g in gaps]])


class OpenGapStore:
    """Where one ingest process keeps its tracking between runs (a connection of its own, reopened on error)."""

    def __init__(self, database_url: str, owner: str) -> None:
        self._db = Reconnecting(database_url, application="envmon-gaps", autocommit=True)
        self.owner = owner
        self._saved: list[OpenGap] | None = None

    def load(self) -> tuple[dict[str, int], dict[str, list[OpenGap]]]:
        """See `load_tracking`; raises psycopg.Error when the database is away."""
        highs, gaps = load_tracking(self._db.connection(), self.owner)
        self._saved = [g for device in sorted(gaps) for g in gaps[device]]
        return highs, gaps

    def save(self, gaps: list[OpenGap]) -> None:
        """Write the open gaps when they changed; logs and retries on the next call when the database is away."""
        if gaps == self._saved:
            return
        try:
            self._db.attempt(lambda conn: save_open_gaps(conn, self.owner, gaps))
        except psycopg.Error as exc:
            log.warning("open sequence gaps not saved (tried again next second): %s", exc)
            return
        self._saved = gaps

    def close(self) -> None:
        """Close the store's connection (the next use reopens it)."""
        self._db.close()


def resend_payload(request: ResendRequest) -> bytes:
    """The command a device receives for a resend request."""
    body = {"cmd": "resend", "first_seq": request.first_seq, "last_seq": request.last_seq, "attempt": request.attempt}
    return json.dumps(body).encode()


class GapMonitor:
    """A batch subscriber that tracks MQTT devices' sequence numbers and requests what is missing."""

    def __init__(self, send: Callable[[ResendRequest], None], tracker: SequenceTracker | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_abandoned: Callable[[AbandonedGap], None] | None = None,
                 store: OpenGapStore | None = None) -> None:
        self.tracker = tracker or SequenceTracker()
        self._store = store
        self._send = send
        self._on_abandoned = on_abandoned
        self._clock = clock
        self._lock = threading.Lock()
        self.requested = 0
        self.abandoned = 0

    def on_batch(self, batch: StoredBatch) -> None:
        readings = batch.readings
        heads = readings.sample_starts()
        heads = heads[readings.basis[heads] == BASIS_INDEX["instant"]]
        seqs: dict[int, set[int]] = {}
        for device_id, seq in zip(readings.device_id[heads].tolist(), readings.seq[heads].tolist(), strict=True):
            seqs.setdefault(device_id, set()).add(seq)
        now = self._clock()
        with self._lock:
            for device_id, numbers in seqs.items():
                info = batch.directory.get(batch.directory.mn_of(device_id))
                if info is not None and info.transport == "mqtt":
                    self.tracker.observe(info.mn, numbers, now)

    def restore(self) -> bool:
        """Seed the tracker from the store (call before the first message); False when that failed."""
        if self._store is None:
            return True
        try:
            highs, gaps = self._store.load()
        except psycopg.Error as exc:
            log.warning("sequence tracking starts from scratch (stored state not read): %s", exc)
            self._store.close()
            return False
        now = self._clock()
        with self._lock:
            for device in highs.keys() | gaps.keys():
                open_gaps = gaps.get(device, [])
                high = highs.get(device, max((g.last_seq + 1 for g in open_gaps), default=0))
                self.tracker.restore(device, high, open_gaps, now)
        log.info("sequence tracking restored: %d devices, %d open gaps", len(highs), sum(map(len, gaps.values())))
        return True

    def tick(self) -> None:
        """Send the resend requests that are due; log the gaps given up on; save the open gaps."""
        with self._lock:
            requests, abandoned = self.tracker.due(self._clock())
            open_gaps = self.tracker.open_gaps() if self._store is not None else []
        for request in requests:
            log.info("asking %s to resend seq %d-%d (attempt %d)", request.device, request.first_seq,
                     request.last_seq, request.attempt)
            self._send(request)
        for gap in abandoned:
            log.warning("gap not filled: %s seq %d-%d never came back", gap.device, gap.first_seq, gap.last_seq)
            if self._on_abandoned is not None:
                self._on_abandoned(gap)
        self.requested += len(requests)
        self.abandoned += len(abandoned)
        if self._store is not None:
            self._store.save(open_gaps)

    def run(self, stop: threading.Event, interval_seconds: float = 1.0) -> None:
        """Tick until stopped."""
        while not stop.wait(interval_seconds):
            self.tick()
        if self._store is not None:
            with self._lock:
                open_gaps = self.tracker.open_gaps()
            self._store.save(open_gaps)
            self._store.close()
