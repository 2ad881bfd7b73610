"""The report worker: requests are served off the caller's thread, in order, and failures do not stop it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
import pytest

from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.worker import ReportWorker

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _wait_for(predicate: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_worker_stores_versions_for_each_locale_and_survives_a_bad_request(db: psycopg.Connection, database_url: str) -> None:
    ensure_registry(db)
    db.commit()
    alert_id = build_incident(db, Scenario(), now=NOW)
    worker = ReportWorker(database_url, locales=("zh-CN", "en"), clock=lambda: NOW)
    worker.start()
    try:
        assert worker.submit(alert_id, reason="open")
        assert worker.submit(987654, reason="open")  # no such alert: fails, logged, counted
        assert worker.submit(alert_id, reason="resolved", final=True)
        _wait_for(lambda: worker.stats.generated + worker.stats.failed == 3)
    finally:
        worker.stop()
    assert (worker.stats.generated, worker.stats.failed) == (2, 1)
    rows = db.execute(
        "SELECT locale, version, status, reason FROM reports WHERE alert_id = %s ORDER BY locale, version", (alert_id,)
    ).fetchall()
    assert rows == [
        ("en", 1, "draft", "open"), ("en", 2, "final", "resolved"),
        ("zh-CN", 1, "draft", "open"), ("zh-CN", 2, "final", "resolved"),
    ]


def test_a_full_queue_drops_instead_of_blocking(database_url: str) -> None:
    worker = ReportWorker(database_url, max_queued=2)  # not started: nothing drains the queue
    assert worker.submit(1, reason="open") and worker.submit(2, reason="open")
    assert worker.submit(3, reason="open") is False
    assert worker.stats.dropped == 1


@pytest.fixture(autouse=True)
def _quiet_weasyprint() -> None:
    import logging

    logging.getLogger("alerts.reports.worker").setLevel(logging.CRITICAL)
