"""Turns stored batches into sequence tracking, and due gaps into resend requests to devices.

MQTT devices get `{"cmd": "resend", "first_seq": a, "last_seq": b, "attempt": n}` on their
`cmd` topic; they answer by publishing those messages again (same seq), and the database's
unique key makes any overlap harmless. See docs/mqtt.md.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import psycopg

from envmon.columns import BASIS_INDEX
from ingest.gaps import AbandonedGap, ResendRequest, SequenceTracker
from ingest.pipeline import StoredBatch

log = logging.getLogger(__name__)


_RECORD_GAP = """
INSERT INTO sequence_gaps (device_id, first_seq, last_seq, abandoned_at)
SELECT id, %(first)s, %(last)s, now() FROM devices WHERE mn = %(mn)s
"""


def record_abandoned_gap(database_url: str, gap: AbandonedGap) -> None:
    """Write a gap that never came back, for the alert engine's seq_gap rule (rare: one connection each)."""
    try:
        with psycopg.connect(database_url, application_name="envmon-gaps", connect_timeout=5) as conn:
            conn.execute(_RECORD_GAP, {"first": gap.first_seq, "last": gap.last_seq, "mn": gap.device})
    except psycopg.Error as exc:
        log.warning("could not record the abandoned gap of %s: %s", gap.device, exc)


def resend_payload(request: ResendRequest) -> bytes:
    """The command a device receives for a resend request."""
    body = {"cmd": "resend", "first_seq": request.first_seq, "last_seq": request.last_seq, "attempt": request.attempt}
    return json.dumps(body).encode()


class GapMonitor:
    """A batch subscriber that tracks MQTT devices' sequence numbers and requests what is missing."""

    def __init__(self, send: Callable[[ResendRequest], None], tracker: SequenceTracker | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_abandoned: Callable[[AbandonedGap], None] | None = None) -> None:
        self.tracker = tracker or SequenceTracker()
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

    def tick(self) -> None:
        """Send the resend requests that are due; log the gaps given up on."""
        with self._lock:
            requests, abandoned = self.tracker.due(self._clock())
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

    def run(self, stop: threading.Event, interval_seconds: float = 1.0) -> None:
        """Tick until stopped."""
        while not stop.wait(interval_seconds):
            self.tick()
