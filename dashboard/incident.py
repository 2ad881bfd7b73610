"""An alert's incident chart: the readings around its breach and the lines of its limit, scoped to the user."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from dashboard import alert_queue
from dashboard.access import User
from dashboard.plant import load_plant

# An inspector reads the hour before the breach (was it building up?) and the hour after it ends.
BEFORE = timedelta(hours=1)
AFTER = timedelta(hours=1)
# Raw readings are at most one every few seconds; a capped count keeps a week-long incident light on a phone.
MAX_POINTS = 5000

# With the flag after data review (migration 0024): a value a reviewer marked later reads as marked here too.
_READINGS = """
SELECT extract(epoch FROM time)::float8, value, flag FROM readings_reviewed
WHERE device_id = %(device_id)s AND pollutant = %(pollutant)s AND basis = 'instant'
  AND time >= %(since)s AND time <= %(until)s
ORDER BY time LIMIT %(cap)s
"""


def incident_window(opened_at: datetime, resolved_at: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """From an hour before the breach to an hour after it ended (or now, while it lasts)."""
    end = min(resolved_at + AFTER, now) if resolved_at is not None else now
    return opened_at - BEFORE, max(end, opened_at)


def load_incident_series(
    conn: psycopg.Connection, user: User, alert_id: int, *, now: datetime
) -> dict[str, Any] | None:
    """Columns t (epoch s), value and flag after review, the breach time, the limit's lines; None outside scope."""
    alert = alert_queue.load_alert_row(conn, user, alert_id)
    if alert is None:
        return None
    since, until = incident_window(alert["opened_at"], alert["resolved_at"], now)
    rows = conn.execute(_READINGS, {"device_id": alert["device_id"], "pollutant": alert["pollutant"],
                                    "since": since, "until": until, "cap": MAX_POINTS}).fetchall()
    return {"t": [r[0] for r in rows], "value": [r[1] for r in rows], "flag": [r[2] for r in rows],
            "opened_at": alert["opened_at"].timestamp(),
            "lines": alert_lines(conn, user, alert, now=now)}


def alert_lines(conn: psycopg.Connection, user: User, alert: dict[str, Any], *, now: datetime) -> list[dict[str, Any]]:
    """The chart lines of the alert's limit (kind, value)."""
    # The limit in force now, as the plant page draws it (the same envmon.limit_lines the report uses).
    plant = load_plant(conn, user, alert["site_code"], now=now) or {"readings": []}
    for row in plant["readings"]:
        if row["device_id"] == alert["device_id"] and row["pollutant"] == alert["pollutant"]:
            return list(row["lines"])
    return []
