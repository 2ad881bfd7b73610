"""Sequence gaps: which messages a device sent that never arrived, and when to ask for them again.

Pure logic: `observe(device, seqs, now)` after each commit, `due(now)` on a timer. A device's
first sequence number starts its tracking; a number far below the highest seen, or a jump larger
than `max_gap`, is a counter reset (device restart), not a gap. A gap is requested after
`grace_seconds` (late or reordered messages fill most gaps by themselves), again every
`retry_seconds`, and given up after `max_attempts` requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GapPolicy:
    grace_seconds: float = 2.0
    retry_seconds: float = 30.0
    max_attempts: int = 5
    max_gap: int = 10_000


@dataclass(frozen=True, slots=True)
class ResendRequest:
    """Ask `device` to send the messages `first_seq`..`last_seq` again (inclusive)."""

    device: str
    first_seq: int
    last_seq: int
    attempt: int


@dataclass(frozen=True, slots=True)
class AbandonedGap:
    """Messages that did not come back after every attempt."""

    device: str
    first_seq: int
    last_seq: int


@dataclass
class _Missing:
    noticed_at: float
    attempts: int = 0
    last_request_at: float = float("-inf")


@dataclass
class _Device:
    high: int
    missing: dict[int, _Missing] = field(default_factory=dict)


class SequenceTracker:
    """Tracks every device's sequence numbers and the gaps in them."""

    def __init__(self, policy: GapPolicy | None = None) -> None:
        self.policy = policy or GapPolicy()
        self._devices: dict[str, _Device] = {}

    def missing(self, device: str) -> list[int]:
        """The sequence numbers of this device still missing, in order."""
        state = self._devices.get(device)
        return sorted(state.missing) if state else []

    def observe(self, device: str, seqs: Iterable[int], now: float) -> None:
        """Record stored sequence numbers of one device."""
        for seq in sorted(set(seqs)):
            state = self._devices.get(device)
            if state is None or seq < state.high - self.policy.max_gap or seq - state.high > self.policy.max_gap:
                self._devices[device] = _Device(high=seq)
            elif seq > state.high:
                for lost in range(state.high + 1, seq):
                    state.missing[lost] = _Missing(noticed_at=now)
                state.high = seq
            else:
                state.missing.pop(seq, None)

    def due(self, now: float) -> tuple[list[ResendRequest], list[AbandonedGap]]:
        """Resend requests to send now, and gaps given up on (removed from tracking)."""
        requests: list[ResendRequest] = []
        abandoned: list[AbandonedGap] = []
        for device, state in self._devices.items():
            ripe = [s for s, m in state.missing.items() if self._is_due(m, now)]
            for first, last in _ranges(ripe):
                if state.missing[first].attempts >= self.policy.max_attempts:
                    abandoned.append(AbandonedGap(device, first, last))
                    for seq in range(first, last + 1):
                        del state.missing[seq]
                    continue
                attempt = state.missing[first].attempts + 1
                for seq in range(first, last + 1):
                    state.missing[seq].attempts, state.missing[seq].last_request_at = attempt, now
                requests.append(ResendRequest(device, first, last, attempt))
        return requests, abandoned

    def _is_due(self, m: _Missing, now: float) -> bool:
        if m.attempts == 0:
            return now - m.noticed_at >= self.policy.grace_seconds
        return now - m.last_request_at >= self.policy.retry_seconds


def _ranges(seqs: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted numbers as (first, last) pairs."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs
