"""Sequence gaps: which messages a device sent that never arrived, and when to ask for them again.

Pure logic: `observe(device, seqs, now)` after each commit, `due(now)` on a timer. A device's
first sequence number starts its tracking; a number far below the highest seen, or a jump larger
than `max_gap`, is a counter reset (device restart), not a gap. Devices count from 1 when they start
(docs/mqtt.md): when tracking starts at a small seq (at most `first_seq_window`), the numbers
before it are a gap too, so a device's first messages lost with a broker are asked for like any.
A gap is requested after `grace_seconds` (late or reordered messages fill most gaps by themselves), again every
`retry_seconds`, and given up after `max_attempts` requests.

A restarted ingest calls `restore(device, high, gaps, now)` before the first message arrives: with
the device's stored highest seq (`highs()`), a gap spanning the restart is still noticed; with the
gaps still open before it (`open_gaps()`), those are asked for again with their attempts counted, so
a crash loop cannot ask forever. The caller persists both together: a stored high ahead of the
stored gaps would hide the gaps between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GapPolicy:
    """When a gap is asked for, how often, and what counts as a counter reset rather than a gap."""

    grace_seconds: float = 2.0
    retry_seconds: float = 30.0
    max_attempts: int = 5
    max_gap: int = 10_000
    # Tracking that starts at seq s <= this (a device first heard, or after a counter reset) asks for
    # 1..s-1: the device's first messages. Larger starts are a device counting since before we knew it.
    first_seq_window: int = 100


@dataclass(frozen=True, slots=True)
class SeqGap:
    """A device's messages `first_seq`..`last_seq` (inclusive) that did not arrive, asked for `attempts` times.

    One value for each stage of a gap: open (requests so far), asked for now (this request's number), given up
    (after its last request)."""

    device: str
    first_seq: int
    last_seq: int
    attempts: int


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
                self._devices[device] = _Device(high=seq, missing=self._before_first(seq, now))
            elif seq > state.high:
                for lost in range(state.high + 1, seq):
                    state.missing[lost] = _Missing(noticed_at=now)
                state.high = seq
            else:
                state.missing.pop(seq, None)

    def _before_first(self, seq: int, now: float) -> dict[int, _Missing]:
        """The messages a device counting from 1 sent before `seq`, the first one seen."""
        if not 1 < seq <= self.policy.first_seq_window:
            return {}
        return {lost: _Missing(noticed_at=now) for lost in range(1, seq)}

    def restore(self, device: str, high: int, gaps: Iterable[SeqGap], now: float) -> None:
        """Start tracking `device` at stored seq `high` with its still open `gaps` (no-op once tracked)."""
        if device in self._devices:
            return  # messages seen since the start know better than stored state
        state = _Device(high=high)
        for gap in gaps:
            if gap.last_seq - gap.first_seq >= self.policy.max_gap:
                continue  # not something this tracker would have noticed; never flood a device
            for seq in range(gap.first_seq, gap.last_seq + 1):
                state.missing[seq] = self._restored(gap.attempts, now)
            state.high = max(state.high, gap.last_seq + 1)
        self._devices[device] = state

    def _restored(self, attempts: int, now: float) -> _Missing:
        # Asked again after the grace, as a new gap (the last request may have been lost with the
        # process), but its attempts still count towards giving up.
        return _Missing(noticed_at=now, attempts=attempts,
                        last_request_at=now - self.policy.retry_seconds + self.policy.grace_seconds)

    def highs(self) -> dict[str, int]:
        """The highest seq tracked per device (saved with `open_gaps()`: a restart seeds from both)."""
        return {device: state.high for device, state in self._devices.items()}

    def open_gaps(self) -> list[SeqGap]:
        """Every gap still open, as runs of consecutive seqs with the same attempts, in device order."""
        gaps: list[SeqGap] = []
        # Called once a second under the monitor's lock: look only at devices with something missing.
        for device, missing in sorted((d, s.missing) for d, s in self._devices.items() if s.missing):
            for seq in sorted(missing):
                attempts = missing[seq].attempts
                last = gaps[-1] if gaps else None
                if last and last.device == device and last.last_seq + 1 == seq and last.attempts == attempts:
                    gaps[-1] = SeqGap(device, last.first_seq, seq, attempts)
                else:
                    gaps.append(SeqGap(device, seq, seq, attempts))
        return gaps

    def due(self, now: float) -> tuple[list[SeqGap], list[SeqGap]]:
        """Resend requests to send now, and gaps given up on (removed from tracking): each a SeqGap."""
        requests: list[SeqGap] = []
        abandoned: list[SeqGap] = []
        for device, state in self._devices.items():
            ripe = [s for s, m in state.missing.items() if self._is_due(m, now)]
            for first, last in _ranges(ripe):
                attempts = state.missing[first].attempts
                if attempts >= self.policy.max_attempts:
                    abandoned.append(SeqGap(device, first, last, attempts))
                    for seq in range(first, last + 1):
                        del state.missing[seq]
                    continue
                for seq in range(first, last + 1):
                    state.missing[seq].attempts, state.missing[seq].last_request_at = attempts + 1, now
                requests.append(SeqGap(device, first, last, attempts + 1))
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
