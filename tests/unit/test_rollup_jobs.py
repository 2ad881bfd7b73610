"""ingest.rollups.failing_jobs / failures_told: which TimescaleDB policy jobs keep failing (for ingest's /healthz),
and their last errors (for its log)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ingest.rollups import JobStat, failing_jobs, failures_told

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _job(status: str | None, last_success: datetime | None, every: timedelta = MINUTE) -> JobStat:
    return JobStat(1002, "policy_refresh_continuous_aggregate", "readings_1m", status, last_success, every, 8)


@pytest.mark.parametrize(
    ("job", "failing"),
    [
        pytest.param(_job(None, None), False, id="never-ran-yet"),
        pytest.param(_job("Success", NOW - MINUTE), False, id="succeeding"),
        pytest.param(_job("Failed", None), True, id="failed-and-never-succeeded"),
        pytest.param(_job("Failed", NOW - 2 * MINUTE), False, id="one-failure-after-a-recent-success"),
        pytest.param(_job("Failed", NOW - 4 * MINUTE), True, id="no-success-for-more-than-three-intervals"),
        pytest.param(_job("Failed", NOW - timedelta(hours=13), timedelta(hours=12)), False,
                     id="a-twelve-hour-job-is-judged-by-its-own-interval"),
        pytest.param(_job("Success", None), False, id="succeeded-once-history-pruned"),
    ],
)
def test_a_job_is_failing_when_its_last_run_failed_and_it_has_not_succeeded_lately(job: JobStat, failing: bool) -> None:
    assert failing_jobs([job], NOW) == (
        ("policy_refresh_continuous_aggregate readings_1m (job 1002)",) if failing else ()
    )


PORTAL = '24000 cannot drop portal "" while it is being set up'


@pytest.mark.parametrize(
    ("job", "told"),
    [
        pytest.param(replace(_job("Failed", None), last_error=PORTAL),
                     (f"policy_refresh_continuous_aggregate readings_1m (job 1002): {PORTAL}",),
                     id="failing-with-its-last-error"),
        pytest.param(_job("Failed", None), ("policy_refresh_continuous_aggregate readings_1m (job 1002)",),
                     id="failing-error-history-pruned"),
        pytest.param(replace(_job("Success", NOW - MINUTE), last_error=PORTAL), (), id="an-old-error-of-a-job-that-succeeds"),
    ],
)
def test_the_log_tells_each_failing_job_with_its_last_error(job: JobStat, told: tuple[str, ...]) -> None:
    assert failures_told([job], NOW) == told
