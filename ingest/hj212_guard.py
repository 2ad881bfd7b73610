"""Login back-off for the HJ 212 gateway: wrong passwords close the connection and block the address.

A logger that sends a wrong PW (or an MN that is not registered) gets its CN=9011 refusal, but only a
few times: after `max_failures_per_connection` the connection is closed, and after
`max_failures_per_address` failures from one remote address (over any number of connections) that
address is blocked for a window that doubles with each block, up to `backoff_max_seconds`. New
connections from a blocked address are closed at once, unread. An address that stays quiet for
`forget_seconds` starts afresh. Pure logic: the caller passes `now` (monotonic seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """Thresholds of the back-off (settings hj212_auth_*)."""

    max_failures_per_connection: int = 3
    max_failures_per_address: int = 5
    backoff_seconds: float = 5.0
    backoff_max_seconds: float = 300.0
    forget_seconds: float = 3600.0
    # Bounds the memory an attacker with many addresses can make us hold.
    max_addresses: int = 10_000


class Verdict(Enum):
    """What the gateway does after a failed login."""

    ANSWER = "answer"  # refuse this frame, keep the connection
    CLOSE = "close"  # too many failures on this connection: close it
    BLOCK = "block"  # the address is now blocked: close it, and log the block once


@dataclass(slots=True)
class _Address:
    failures: int = 0
    blocks: int = 0
    blocked_until: float = 0.0
    last_seen: float = 0.0


@dataclass(slots=True)
class AuthGuard:
    """Failure counts per remote address, and the block windows they earn."""

    policy: AuthPolicy = field(default_factory=AuthPolicy)
    _addresses: dict[str, _Address] = field(default_factory=dict)

    def blocked_seconds(self, address: str, now: float) -> float:
        """Seconds the address stays blocked (0 when it may connect)."""
        state = self._addresses.get(address)
        return max(0.0, state.blocked_until - now) if state is not None else 0.0

    def on_failure(self, address: str, connection_failures: int, now: float) -> Verdict:
        """Count one failed login (`connection_failures` includes it) and say what to do."""
        state = self._state(address, now)
        state.failures += 1
        if state.failures >= self.policy.max_failures_per_address:
            state.failures = 0
            state.blocks += 1
            state.blocked_until = now + self.window_seconds(state.blocks)
            return Verdict.BLOCK
        if connection_failures >= self.policy.max_failures_per_connection:
            return Verdict.CLOSE
        return Verdict.ANSWER

    def window_seconds(self, blocks: int) -> float:
        """The length of the n-th block window (1-based): doubling, capped."""
        return min(self.policy.backoff_seconds * 2.0 ** min(blocks - 1, 62), self.policy.backoff_max_seconds)

    def _state(self, address: str, now: float) -> _Address:
        state = self._addresses.get(address)
        if state is None or now - state.last_seen > self.policy.forget_seconds:
            if len(self._addresses) >= self.policy.max_addresses:
                self._prune(now)
            state = _Address()
            self._addresses[address] = state
        state.last_seen = now
        return state

    def _prune(self, now: float) -> None:
        """Forget quiet addresses; if none is quiet, the least recently seen unblocked half."""
        quiet = [a for a, s in self._addresses.items() if now - s.last_seen > self.policy.forget_seconds]
        if not quiet:
            by_age = sorted(self._addresses.items(), key=lambda item: item[1].last_seen)
            quiet = [a for a, s in by_age[: len(by_age) // 2] if s.blocked_until <= now]
        for address in quiet:
            del self._addresses[address]
