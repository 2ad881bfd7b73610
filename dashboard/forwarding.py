"""Upstream forwarding for the dashboard: each target's routes, backlog, lag and the forward service's state.

The forward service (`envmon forward run`, ingest/forward) is its own process: it writes its connection state,
last error and frame counters into `forward_progress` (migration 0031) and a heartbeat every few seconds;
this module reads those and the queue. Administrators see every target; an inspector sees the targets that
carry devices of their plants, with routes, backlog and lag counted over those devices only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import psycopg
from psycopg.rows import dict_row

from dashboard.access import User, scope_clause

# The forward service writes its heartbeat every 5 s (ingest/forward/service.py OBSERVE_SECONDS); a state older
# than six heartbeats belongs to a service that stopped or cannot reach the database.
STALE_AFTER = timedelta(seconds=30)
# Route bases in the order of HJ 212's commands: 2011 real-time, 2051 minute, 2061 hour, 2031 day.
BASES = ("instant", "minute", "hour", "day")
State = Literal["connected", "disconnected", "not_reporting", "disabled"]


@dataclass(frozen=True, slots=True)
class TargetView:
    """One upstream target as the page shows it."""

    name: str
    host: str
    port: int
    version: str
    enabled: bool
    devices: int
    bases: tuple[str, ...]
    backlog_readings: int
    unacked_frames: int
    oldest_queued_at: datetime | None
    acked_frames: int
    last_acked_at: datetime | None
    connected: bool
    state_since: datetime | None
    reported_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    sent_frames: int
    resent_frames: int
    refusals: int

    def lag_seconds(self, now: datetime) -> float:
        """Age of the oldest reading still waiting for the upstream's 9014 (0 with none)."""
        return 0.0 if self.oldest_queued_at is None else max(0.0, (now - self.oldest_queued_at).total_seconds())

    def state(self, now: datetime) -> State:
        """What the connection is, as far as a fresh heartbeat of the forward service says."""
        return connection_state(enabled=self.enabled, connected=self.connected, reported_at=self.reported_at,
                                now=now)


def connection_state(*, enabled: bool, connected: bool, reported_at: datetime | None, now: datetime) -> State:
    """disabled, not_reporting (no heartbeat within STALE_AFTER), connected or disconnected."""
    if not enabled:
        return "disabled"
    if reported_at is None or now - reported_at > STALE_AFTER:
        return "not_reporting"
    return "connected" if connected else "disconnected"


def ordered_bases(bases: list[str] | None) -> tuple[str, ...]:
    """The route bases in HJ 212 command order (unknown ones last, as stored)."""
    given = bases or []
    return tuple(b for b in BASES if b in given) + tuple(sorted(b for b in given if b not in BASES))


# routes and queued: restricted to the devices of the user's plants; a non-admin sees only targets with at least
# one such route. The target's counters and connection state are the forward service's, for the whole target.
_SQL = """
WITH routes AS (
    SELECT r.target_id, count(DISTINCT r.device_id) AS devices, array_agg(DISTINCT b) AS bases
    FROM forward_routes r JOIN devices d ON d.id = r.device_id JOIN sites s ON s.id = d.site_id,
         unnest(r.bases) AS b
    WHERE {scope}
    GROUP BY r.target_id
), queued AS (
    SELECT q.target_id, count(*) AS readings, count(DISTINCT q.qn) AS unacked, min(q.queued_at) AS oldest
    FROM forward_queue q JOIN devices d ON d.id = q.device_id JOIN sites s ON s.id = d.site_id
    WHERE {scope}
    GROUP BY q.target_id
)
SELECT t.name, t.host, t.port, t.version, t.enabled, coalesce(ro.devices, 0) AS devices, ro.bases,
       coalesce(qu.readings, 0) AS backlog_readings, coalesce(qu.unacked, 0) AS unacked_frames,
       qu.oldest AS oldest_queued_at, coalesce(p.acked_frames, 0) AS acked_frames, p.last_acked_at,
       coalesce(p.connected, false) AS connected, p.state_since, p.reported_at, p.last_error, p.last_error_at,
       coalesce(p.sent_frames, 0) AS sent_frames, coalesce(p.resent_frames, 0) AS resent_frames,
       coalesce(p.refusals, 0) AS refusals
FROM forward_targets t
LEFT JOIN routes ro ON ro.target_id = t.id
LEFT JOIN queued qu ON qu.target_id = t.id
LEFT JOIN forward_progress p ON p.target_id = t.id
WHERE %(every_target)s OR ro.devices > 0
ORDER BY t.name
"""


def load_targets(conn: psycopg.Connection, user: User) -> list[TargetView]:
    """The targets the user may see, by name."""
    scope, params = scope_clause(user, "s")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_SQL.format(scope=scope), {**params, "every_target": user.role == "admin"}).fetchall()
    return [TargetView(**{**row, "bases": ordered_bases(row["bases"])}) for row in rows]
