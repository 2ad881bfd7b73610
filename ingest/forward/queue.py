"""The forwarding tables: targets, routes, the queue a trigger on `readings` fills, and acknowledgements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from ingest.forward.frames import OutFrame, Queued, Route


@dataclass(frozen=True, slots=True)
class Target:
    """An upstream platform."""

    id: int
    name: str
    host: str
    port: int
    version: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """Backlog and progress of one target, for status, the API and metrics."""

    name: str
    host: str
    port: int
    enabled: bool
    backlog_rows: int
    unacked_frames: int
    oldest_queued_at: datetime | None
    acked_frames: int
    last_acked_at: datetime | None
    connected: bool = False
    state_since: datetime | None = None
    reported_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    sent_frames: int = 0
    resent_frames: int = 0
    refusals: int = 0

    def lag_seconds(self, now: datetime) -> float:
        """How long the oldest queued reading has waited (0 with nothing queued)."""
        return 0.0 if self.oldest_queued_at is None else max(0.0, (now - self.oldest_queued_at).total_seconds())


_COLUMNS = "id, device_id, time, pollutant, basis, value, flag, qn"


def load_targets(conn: psycopg.Connection, *, enabled_only: bool = True) -> list[Target]:
    """The configured targets, by name."""
    where = "WHERE enabled" if enabled_only else ""
    rows = conn.execute(f"SELECT id, name, host, port, version, enabled FROM forward_targets {where} ORDER BY name")
    return [Target(*row) for row in rows.fetchall()]


def load_routes(conn: psycopg.Connection, target_id: int) -> dict[int, Route]:
    """The devices forwarded to a target, by local device id."""
    rows = conn.execute(
        "SELECT device_id, upstream_mn, upstream_pw, st FROM forward_routes WHERE target_id = %s", (target_id,)
    ).fetchall()
    return {row[0]: Route(*row) for row in rows}


def sent_rows(conn: psycopg.Connection, target_id: int) -> list[Queued]:
    """Rows whose frame was planned (QN committed) but not acknowledged, in queue order."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM forward_queue WHERE target_id = %s AND qn IS NOT NULL ORDER BY id", (target_id,)
    ).fetchall()
    return [Queued(*row) for row in rows]


def new_rows(conn: psycopg.Connection, target_id: int, limit: int) -> list[Queued]:
    """The oldest rows not yet in a frame, of devices still routed to the target."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM forward_queue q WHERE q.target_id = %s AND q.qn IS NULL"
        " AND EXISTS (SELECT 1 FROM forward_routes r WHERE r.target_id = q.target_id AND r.device_id = q.device_id)"
        " ORDER BY q.id LIMIT %s",
        (target_id, limit),
    ).fetchall()
    return [Queued(*row) for row in rows]


def last_qn(conn: psycopg.Connection, target_id: int) -> str:
    """The highest QN still queued for a target ("" when none), so a restarted sender never reuses one."""
    row = conn.execute("SELECT max(qn) FROM forward_queue WHERE target_id = %s", (target_id,)).fetchone()
    return "" if row is None or row[0] is None else str(row[0])


def mark_planned(conn: psycopg.Connection, target_id: int, frames: list[OutFrame], now: datetime) -> None:
    """Commit each frame's QN on its rows before it is sent, so any resend carries the same QN."""
    with conn.transaction():
        for frame in frames:
            conn.execute(
                "UPDATE forward_queue SET qn = %s, sent_at = %s WHERE target_id = %s AND id = ANY(%s)",
                (frame.qn, now, target_id, list(frame.ids)),
            )


def acknowledge(conn: psycopg.Connection, target_id: int, qn: str, now: datetime) -> int:
    """The upstream answered 9014 for `qn`: its rows are done. Returns how many rows that was."""
    with conn.transaction():
        done = conn.execute("DELETE FROM forward_queue WHERE target_id = %s AND qn = %s", (target_id, qn)).rowcount
        conn.execute(
            "INSERT INTO forward_progress (target_id, acked_frames, last_acked_at) VALUES (%s, 1, %s)"
            " ON CONFLICT (target_id) DO UPDATE SET acked_frames = forward_progress.acked_frames + 1,"
            " last_acked_at = excluded.last_acked_at",
            (target_id, now),
        )
    return done


# Progress counters the sender adds to (one upsert per batch of frames, never per reading).
COUNTERS = frozenset({"sent_frames", "resent_frames", "refusals"})
# The last error is for people: keep it short and free of NUL (PostgreSQL text refuses 0x00).
ERROR_CHARS = 500


def count_frames(conn: psycopg.Connection, target_id: int, counter: str, n: int) -> None:
    """Add `n` to one of a target's progress counters (COUNTERS)."""
    if counter not in COUNTERS:
        raise ValueError(f"unknown forwarding counter {counter!r}")
    if n:
        conn.execute(
            f"INSERT INTO forward_progress (target_id, {counter}) VALUES (%s, %s)"
            f" ON CONFLICT (target_id) DO UPDATE SET {counter} = forward_progress.{counter} + excluded.{counter}",
            (target_id, n),
        )


def record_state(conn: psycopg.Connection, target_id: int, *, connected: bool, error: str | None,
                 now: datetime) -> None:
    """Store whether the sender is connected (and since when) and, when given, the error that ended a session."""
    cleaned = None if error is None else error.replace("\x00", "\\0")[:ERROR_CHARS]
    conn.execute(
        "INSERT INTO forward_progress (target_id, connected, state_since, reported_at, last_error, last_error_at)"
        " VALUES (%(t)s, %(c)s, %(now)s, %(now)s, %(e)s, CASE WHEN %(e)s::text IS NULL THEN NULL ELSE %(now)s END)"
        " ON CONFLICT (target_id) DO UPDATE SET connected = excluded.connected, reported_at = excluded.reported_at,"
        " state_since = CASE WHEN forward_progress.connected = excluded.connected"
        "  AND forward_progress.state_since IS NOT NULL"
        "  THEN forward_progress.state_since ELSE excluded.state_since END,"
        " last_error = coalesce(excluded.last_error, forward_progress.last_error),"
        " last_error_at = coalesce(excluded.last_error_at, forward_progress.last_error_at)",
        {"t": target_id, "c": connected, "e": cleaned, "now": now},
    )


def report_alive(conn: psycopg.Connection, target_ids: list[int], now: datetime) -> None:
    """The service's heartbeat for the targets it runs: their stored state is current as of `now`."""
    conn.execute(
        "INSERT INTO forward_progress (target_id, reported_at) SELECT unnest(%s::int[]), %s"
        " ON CONFLICT (target_id) DO UPDATE SET reported_at = excluded.reported_at",
        (target_ids, now),
    )


def target_status(conn: psycopg.Connection) -> list[TargetStatus]:
    """Backlog and progress of every target, by name."""
    rows = conn.execute(
        """
        SELECT t.name, t.host, t.port, t.enabled,
               coalesce(q.rows, 0), coalesce(q.unacked, 0), q.oldest,
               coalesce(p.acked_frames, 0), p.last_acked_at,
               coalesce(p.connected, false), p.state_since, p.reported_at, p.last_error, p.last_error_at,
               coalesce(p.sent_frames, 0), coalesce(p.resent_frames, 0), coalesce(p.refusals, 0)
        FROM forward_targets t
        LEFT JOIN (
            SELECT target_id, count(*) AS rows, count(DISTINCT qn) AS unacked, min(queued_at) AS oldest
            FROM forward_queue GROUP BY target_id
        ) q ON q.target_id = t.id
        LEFT JOIN forward_progress p ON p.target_id = t.id
        ORDER BY t.name
        """
    ).fetchall()
    return [TargetStatus(*row) for row in rows]
