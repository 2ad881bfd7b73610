"""When the alert engine saves its snapshot: alerts at once, hold progress at most once a second."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from alerts.processor import HOLD_SNAPSHOT_SECONDS, SNAPSHOT_SECONDS, AlertProcessor
from alerts.rules.policy import Policy
from envmon.settings import load_settings

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def _saves(url: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM engine_snapshots").fetchone()
        assert found is not None
        return int(found[0])


def test_hold_progress_is_saved_at_most_once_a_second_and_alerts_at_once(ingest_db: str) -> None:
    clock = [1000.0]
    processor = AlertProcessor(
        load_settings(environment="test", database_url=ingest_db), Policy(), monotonic=lambda: clock[0]
    )
    try:
        processor.connect()
        engine = processor.engine
        assert engine is not None
        assert processor.checkpoint(NOW) is True  # the first save: nothing saved yet
        assert processor.checkpoint(NOW) is True  # nothing moved: the saved snapshot covers all
        engine.revision += 1  # a hold advanced
        clock[0] += HOLD_SNAPSHOT_SECONDS / 2
        assert processor.checkpoint(NOW) is False  # too soon: not saved, not covered
        assert processor.checkpoint(NOW, force=True) is True  # the bus asked for it
        engine.revision += 1
        clock[0] += HOLD_SNAPSHOT_SECONDS
        assert processor.checkpoint(NOW) is True  # a second later it is saved
        engine.revision += 1
        processor._dirty = True  # a step changed alerts: saved at once
        assert processor.checkpoint(NOW) is True
        clock[0] += SNAPSHOT_SECONDS
        assert processor.checkpoint(NOW) is True  # the periodic save
        assert _saves(ingest_db) == 1  # one row per shard, replaced each time
    finally:
        processor.close()
