"""The roll-up refresh of plain PostgreSQL: what TimescaleDB's continuous-aggregate policies do, from ingest.

On plain PostgreSQL the minute, hour and day roll-ups are tables (migration 0032). `readings_rollup_refresh()`
recomputes the buckets of late readings and advances the materialized mark; this thread calls it every
`REFRESH_SECONDS`, and again at once while it says the mark is still behind (after an outage, a first start on
history). On TimescaleDB the function does not exist and the database's own policy jobs refresh (and compress,
and drop old chunks); there the thread reads their statistics every `JOBS_CHECK_SECONDS` and names the jobs that
keep failing, for ingest's /healthz, and logs each with its last error: a failing refresh job leaves the aggregates
stale without a word (seen 2026-12-05: TimescaleDB 2.28.3 on PostgreSQL 15.20 failed every background job at its
end with SQLSTATE 24000, docs/benchmarks.md).
Several ingest processes may all run it: the function lets one refresh at a time and the others return at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from envmon.db import Reconnecting

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
JOBS_CHECK_SECONDS = 60.0
# A job is failing when its last run failed and it has not succeeded for this many of its intervals (or never):
# one failed run among successes (a lock timeout) is not worth a page.
FAILING_AFTER_INTERVALS = 3
CATCH_UP_PAUSE_SECONDS = 0.05  # between steps while catching up: the writers get the database in between
_EXISTS = "SELECT to_regproc('readings_rollup_refresh') IS NOT NULL"
_REFRESH = "SELECT readings_rollup_refresh()"
_JOBS = """
SELECT j.job_id, j.proc_name, j.hypertable_name, s.last_run_status,
       CASE WHEN isfinite(s.last_successful_finish) THEN s.last_successful_finish END, j.schedule_interval,
       s.total_failures,
       (SELECT concat_ws(' ', e.sqlerrcode, e.err_message) FROM timescaledb_information.job_errors e
        WHERE e.job_id = j.job_id ORDER BY e.finish_time DESC NULLS LAST LIMIT 1)
FROM timescaledb_information.jobs j JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
WHERE j.hypertable_name IS NOT NULL ORDER BY j.job_id
"""


@dataclass(frozen=True, slots=True)
class JobStat:
    """One TimescaleDB policy job of a hypertable or continuous aggregate, and how its runs went."""

    job_id: int
    proc_name: str
    relation: str
    last_run_status: str | None
    last_successful_finish: datetime | None
    schedule_interval: timedelta
    total_failures: int
    # The newest error in the job's history (SQLSTATE and message), whether or not the last run failed.
    last_error: str | None = None


def failing_jobs(stats: Sequence[JobStat], now: datetime) -> tuple[str, ...]:
    """The jobs whose last run failed and that have not succeeded for FAILING_AFTER_INTERVALS of their intervals,
    named for people ("policy_refresh_continuous_aggregate readings_1m (job 1002)")."""
    return tuple(_job_name(s) for s in stats if _keeps_failing(s, now))


def failures_told(stats: Sequence[JobStat], now: datetime) -> tuple[str, ...]:
    """The jobs that keep failing, each with its last error, for the log: the error says what to look up (on
    PostgreSQL 15.20 every job failed with "24000 cannot drop portal ..." after its work, docs/benchmarks.md)."""
    return tuple(
        f"{_job_name(s)}: {s.last_error}" if s.last_error else _job_name(s) for s in stats if _keeps_failing(s, now)
    )


def _job_name(stat: JobStat) -> str:
    return f"{stat.proc_name} {stat.relation} (job {stat.job_id})"


def _keeps_failing(stat: JobStat, now: datetime) -> bool:
    return stat.last_run_status == "Failed" and (
        stat.last_successful_finish is None
        or now - stat.last_successful_finish > FAILING_AFTER_INTERVALS * stat.schedule_interval
    )


def refresh_once(conn: psycopg.Connection) -> timedelta | None:
    """One refresh step (committed); how far the mark still is behind, or None when another refresh ran."""
    with conn.transaction():
        row = conn.execute(_REFRESH).fetchone()
    return None if row is None else row[0]


class RollupRefresher:
    """On a connection of its own until stopped: refreshes the roll-up tables (plain PostgreSQL), or watches the
    database's policy jobs (TimescaleDB)."""

    def __init__(self, database_url: str) -> None:
        self._db = Reconnecting(database_url, application="envmon-rollups")
        self._present: bool | None = None  # whether the database has the roll-up tables; None: not asked yet
        self.refreshes = 0
        self.failures = 0
        self.failing_jobs: tuple[str, ...] = ()  # TimescaleDB policy jobs that keep failing (for health)

    def run(self, stop: threading.Event) -> None:
        """Refresh every REFRESH_SECONDS, or check the policy jobs every JOBS_CHECK_SECONDS, until stopped."""
        while not stop.is_set():
            try:
                if self._present is None:
                    self._present = self._db.attempt(_has_rollups)
                    if not self._present:
                        log.info("roll-up refresh not needed: the database refreshes its own aggregates")
                if self._present:
                    self._refresh_until_caught_up(stop)
                else:
                    self._check_jobs()
            except psycopg.Error as exc:
                self.failures += 1
                log.warning("roll-up %s failed (will retry): %s", "refresh" if self._present else "job check", exc)
            if stop.wait(REFRESH_SECONDS if self._present else JOBS_CHECK_SECONDS):
                return

    def _check_jobs(self) -> None:
        """Read the policy jobs' statistics and log a change in which of them keep failing."""
        stats, now = self._db.attempt(_job_stats), datetime.now(UTC)
        failing = failing_jobs(stats, now)
        if failing and failing != self.failing_jobs:
            log.error("the database's own jobs keep failing (aggregates stale, chunks not compressed or dropped): %s",
                      "; ".join(failures_told(stats, now)))
        elif self.failing_jobs and not failing:
            log.info("the database's own jobs succeed again")
        self.failing_jobs = failing

    def _refresh_until_caught_up(self, stop: threading.Event) -> None:
        """Refresh steps until the mark is where it should be, or another process holds the refresh."""
        steps = 0
        while not stop.is_set():
            left = self._db.attempt(refresh_once)
            self.refreshes += 1
            steps += 1
            if not left:  # caught up (zero), or another process is refreshing (None)
                if steps > 1:
                    log.info("roll-ups caught up after %d refresh steps", steps)
                return
            if steps == 1:
                log.info("roll-ups catching up: %s of readings to materialize", left)
            stop.wait(CATCH_UP_PAUSE_SECONDS)


def _job_stats(conn: psycopg.Connection) -> list[JobStat]:
    with conn.transaction():
        return [JobStat(*row) for row in conn.execute(_JOBS)]


def _has_rollups(conn: psycopg.Connection) -> bool:
    with conn.transaction():
        row = conn.execute(_EXISTS).fetchone()
    return bool(row and row[0])
