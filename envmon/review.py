"""Data review marks: what a mark means for the data under it, and who may move it to which state.

A mark lays a reason over a period of one device's readings (optionally one pollutant); the readings
are never changed (migration 0024, view `readings_reviewed`). Pure rules here; storage is the dashboard's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Reason = Literal["maintenance", "calibration", "device_fault", "invalid"]
REASONS: tuple[Reason, ...] = ("maintenance", "calibration", "device_fault", "invalid")
MarkState = Literal["pending", "active", "rejected", "withdrawn"]
Decision = Literal["approve", "reject", "withdraw"]
# HJ 212-2017 data flags [V]: M maintenance, C calibration, D fault. The standard has no letter for
# "invalid", so an invalid period reads as D (abnormal), with the reason kept beside it.
FLAG_OF_REASON: dict[str, str] = {"maintenance": "M", "calibration": "C", "device_fault": "D", "invalid": "D"}
# Maintenance and calibration are planned work: their samples leave the expected count (see envmon.validity).
EXCLUDED_FROM_EXPECTED: frozenset[str] = frozenset({"maintenance", "calibration"})
# A mark longer than this is almost certainly a typo in the year.
MAX_MARK = timedelta(days=366)
EVIDENCE_MAX_CHARS = 2000


@dataclass(frozen=True, slots=True)
class MarkRequest:
    """A proposed mark, as a person entered it."""

    device_mn: str
    pollutant: str | None
    start_at: datetime
    end_at: datetime
    reason: str
    evidence: str


def request_problem(req: MarkRequest, *, now: datetime) -> str | None:
    """Why a proposed mark cannot be accepted (a message key), or None when it can."""
    if req.reason not in REASONS:
        return "review_bad_reason"
    if not req.evidence.strip() or len(req.evidence) > EVIDENCE_MAX_CHARS or "\x00" in req.evidence:
        return "review_bad_evidence"
    if req.start_at >= req.end_at or req.end_at - req.start_at > MAX_MARK:
        return "review_bad_period"
    if req.start_at > now:
        return "review_future"
    return None


def initial_state(covered_exceedances: int) -> MarkState:
    """Pending (needs a second person) when the mark would hide an exceedance; active otherwise."""
    return "pending" if covered_exceedances > 0 else "active"


def decision_problem(*, state: str, proposed_by: str, actor: str, decision: Decision) -> str | None:
    """Why `actor` may not take `decision` on a mark (a message key), or None when they may."""
    if decision == "withdraw":
        return None if state in ("pending", "active") else "review_not_open"
    if state != "pending":
        return "review_not_pending"
    if actor == proposed_by:
        return "review_own_mark"
    return None


def state_after(decision: Decision) -> MarkState:
    """The mark's state once the decision is taken."""
    return {"approve": "active", "reject": "rejected", "withdraw": "withdrawn"}[decision]  # type: ignore[return-value]


def effective_flag(logger_flag: str, reason: str | None) -> str:
    """The flag that counts for a reading: the active mark's letter, else the logger's (the view's rule)."""
    return FLAG_OF_REASON[reason] if reason is not None else logger_flag
