"""Data review rules (envmon.review) and the validity KPI arithmetic (envmon.validity), with `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from envmon.review import MarkRequest, decision_problem, effective_flag, initial_state, request_problem, state_after
from envmon.validity import Counts, Kpis, covered_seconds, expected_values, kpis, roll_up, total

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _req(start: datetime, end: datetime, reason: str = "maintenance", evidence: str = "work order 17") -> MarkRequest:
    return MarkRequest("310120T001W01", None, start, end, reason, evidence)


@pytest.mark.parametrize(("req", "problem"), [
    pytest.param(_req(NOW - 2 * H, NOW - H), None, id="past-period-ok"),
    pytest.param(_req(NOW - H, NOW + H), None, id="running-into-future-ok"),
    pytest.param(_req(NOW + H, NOW + 2 * H), "review_future", id="starts-in-future"),
    pytest.param(_req(NOW - H, NOW - H), "review_bad_period", id="empty-period"),
    pytest.param(_req(NOW - H, NOW - 2 * H), "review_bad_period", id="end-before-start"),
    pytest.param(_req(NOW - timedelta(days=400), NOW), "review_bad_period", id="longer-than-a-year"),
    pytest.param(_req(NOW - 2 * H, NOW - H, reason="sunny"), "review_bad_reason", id="unknown-reason"),
    pytest.param(_req(NOW - 2 * H, NOW - H, evidence="  "), "review_bad_evidence", id="blank-evidence"),
    pytest.param(_req(NOW - 2 * H, NOW - H, evidence="x" * 2001), "review_bad_evidence", id="evidence-too-long"),
    pytest.param(_req(NOW - 2 * H, NOW - H, evidence="a\x00b"), "review_bad_evidence", id="evidence-nul"),
])
def test_request_problem(req: MarkRequest, problem: str | None) -> None:
    assert request_problem(req, now=NOW) == problem


@pytest.mark.parametrize(("covered", "state"), [
    pytest.param(0, "active", id="no-exceedance-takes-effect"),
    pytest.param(1, "pending", id="hides-an-exceedance-waits-for-second-person"),
    pytest.param(5, "pending", id="hides-several"),
])
def test_initial_state(covered: int, state: str) -> None:
    assert initial_state(covered) == state


@pytest.mark.parametrize(("state", "proposer", "actor", "decision", "problem"), [
    pytest.param("pending", "op", "insp", "approve", None, id="second-person-approves"),
    pytest.param("pending", "op", "op", "approve", "review_own_mark", id="proposer-cannot-approve"),
    pytest.param("pending", "op", "op", "reject", "review_own_mark", id="proposer-cannot-reject"),
    pytest.param("pending", "op", "insp", "reject", None, id="second-person-rejects"),
    pytest.param("active", "op", "insp", "approve", "review_not_pending", id="active-needs-no-approval"),
    pytest.param("rejected", "op", "insp", "approve", "review_not_pending", id="rejected-stays-rejected"),
    pytest.param("pending", "op", "op", "withdraw", None, id="proposer-withdraws-own"),
    pytest.param("active", "op", "insp", "withdraw", None, id="unmark-active"),
    pytest.param("withdrawn", "op", "insp", "withdraw", "review_not_open", id="withdrawn-twice"),
])
def test_decision_problem(state: str, proposer: str, actor: str, decision: str, problem: str | None) -> None:
    assert decision_problem(state=state, proposed_by=proposer, actor=actor, decision=decision) == problem  # type: ignore[arg-type]


@pytest.mark.parametrize(("decision", "state"), [
    pytest.param("approve", "active", id="approve"), pytest.param("reject", "rejected", id="reject"),
    pytest.param("withdraw", "withdrawn", id="withdraw"),
])
def test_state_after(decision: str, state: str) -> None:
    assert state_after(decision) == state  # type: ignore[arg-type]


@pytest.mark.parametrize(("logger", "reason", "flag"), [
    pytest.param("N", None, "N", id="unmarked-keeps-logger-flag"),
    pytest.param("T", None, "T", id="unmarked-over-range-kept"),
    pytest.param("N", "maintenance", "M", id="maintenance-M"),
    pytest.param("N", "calibration", "C", id="calibration-C"),
    pytest.param("N", "device_fault", "D", id="fault-D"),
    pytest.param("N", "invalid", "D", id="invalid-D"),
])
def test_effective_flag(logger: str, reason: str | None, flag: str) -> None:
    assert effective_flag(logger, reason) == flag


T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(("periods", "seconds"), [
    pytest.param([], 0.0, id="none"),
    pytest.param([(T0 + H, T0 + 2 * H)], 3600.0, id="inside"),
    pytest.param([(T0 - H, T0 + H)], 3600.0, id="clipped-at-start"),
    pytest.param([(T0 + 23 * H, T0 + 30 * H)], 3600.0, id="clipped-at-end"),
    pytest.param([(T0 + H, T0 + 3 * H), (T0 + 2 * H, T0 + 4 * H)], 3 * 3600.0, id="overlap-counts-once"),
    pytest.param([(T0 + H, T0 + 4 * H), (T0 + 2 * H, T0 + 3 * H)], 3 * 3600.0, id="nested"),
    pytest.param([(T0 + 30 * H, T0 + 40 * H)], 0.0, id="outside"),
])
def test_covered_seconds(periods: list[tuple[datetime, datetime]], seconds: float) -> None:
    assert covered_seconds(periods, T0, T0 + 24 * H) == seconds


@pytest.mark.parametrize(("window", "interval", "excluded", "expected"), [
    pytest.param(86400, 30, 0, 2880, id="a-day-every-30-s"),
    pytest.param(86400, 30, 3600, 2760, id="an-hour-of-maintenance-leaves-expected"),
    pytest.param(86400, 30, 90000, 0, id="excluded-longer-than-window"),
    pytest.param(100, 30, 0, 3, id="partial-interval-not-owed"),
    pytest.param(100, 0, 0, 0, id="no-interval"),
])
def test_expected_values(window: float, interval: int, excluded: float, expected: int) -> None:
    assert expected_values(window, interval, excluded) == expected


@pytest.mark.parametrize(("counts", "rates"), [
    pytest.param(Counts(100, 90, 81), Kpis(0.9, 0.9, 0.81), id="effective-is-product"),
    pytest.param(Counts(100, 105, 105), Kpis(1.0, 1.0, 1.0), id="transmission-capped"),
    pytest.param(Counts(100, 0, 0), Kpis(0.0, None, None), id="nothing-received"),
    pytest.param(Counts(0, 0, 0), Kpis(None, None, None), id="nothing-expected"),
    pytest.param(Counts(0, 10, 5), Kpis(None, 0.5, None), id="all-excluded-but-received"),
])
def test_kpis(counts: Counts, rates: Kpis) -> None:
    got = kpis(counts)
    for field in ("transmission_rate", "validity_rate", "effective_transmission_rate"):
        want = getattr(rates, field)
        assert getattr(got, field) == (pytest.approx(want) if want is not None else None), field


def test_roll_up_sums_values_before_the_ratio() -> None:
    # A plant of a busy device (1000 values, all valid) and a sparse one (10 values, none valid): weighing
    # by values gives 1000/1010, not the mean of the two devices' rates (0.5).
    rows = [("P", Counts(1000, 1000, 1000)), ("P", Counts(10, 10, 0)), ("Q", Counts(5, 5, 5))]
    summed = roll_up(rows)
    assert list(summed) == ["P", "Q"]
    assert summed["P"] == Counts(1010, 1010, 1000)
    assert kpis(summed["P"]).validity_rate == pytest.approx(1000 / 1010)
    assert total(c for _, c in rows) == Counts(1015, 1015, 1005)
