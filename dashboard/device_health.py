"""Device health: last seen, transmission and validity rates, open device alerts, quarantined messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dashboard.access import User, scope_clause

# Rates are measured over the last hour of the 1-minute aggregate: recent enough to show a fault now.
RATE_WINDOW = timedelta(hours=1)
QUARANTINE_LIMIT = 100

_DEVICES = """
SELECT d.id AS device_id, d.mn, d.kind, d.transport, d.reporting_interval_seconds, d.point_name_zh, d.point_name_en,
       s.code AS site_code, s.name_zh AS site_name_zh, s.name_en AS site_name_en, s.district,
       ds.last_seen_at, ds.last_seq, coalesce(m.samples, 0) AS samples, coalesce(m.valid, 0) AS valid,
       coalesce(m.series, 0) AS series, cardinality(d.pollutants) AS pollutants,
       (SELECT count(*) FROM alerts a WHERE a.device_id = d.id AND a.category = 'device'
          AND a.state IN ('open', 'escalated', 'acknowledged')) AS open_device_alerts
FROM devices d JOIN sites s ON s.id = d.site_id
LEFT JOIN device_state ds ON ds.device_id = d.id
LEFT JOIN LATERAL (
    SELECT sum(sample_count) AS samples, sum(valid_count) AS valid, count(DISTINCT pollutant) AS series
    FROM readings_1m WHERE device_id = d.id AND basis = 'instant' AND bucket >= %(since)s
) m ON true
WHERE d.active AND {scope} {site_filter}
ORDER BY s.code, d.mn
"""

_QUARANTINE = """
SELECT q.id, q.received_at, q.transport, q.source, q.device_mn, q.reason, q.detail, length(q.raw) AS raw_bytes
FROM quarantine q JOIN devices d ON d.mn = q.device_mn JOIN sites s ON s.id = d.site_id
WHERE {scope} {site_filter}
ORDER BY q.received_at DESC LIMIT {limit}
"""


def rates(
    samples: int, valid: int, pollutants: int, interval_seconds: int, window_seconds: float
) -> tuple[float, float]:
    """(transmission, validity) as fractions: samples received of those expected, valid of received."""
    expected = pollutants * window_seconds / interval_seconds
    transmission = min(samples / expected, 1.0) if expected > 0 else 0.0
    validity = valid / samples if samples else 0.0
    return transmission, validity


def load_device_health(
    conn: psycopg.Connection, user: User, *, now: datetime, site: str | None = None
) -> dict[str, Any]:
    """Every device in scope (optionally one plant's) with its rates, and the recent quarantined messages."""
    scope, params = scope_clause(user, "s")
    site_filter = "AND s.code = %(site)s" if site else ""
    args = {**params, "since": now - RATE_WINDOW, "site": site}
    with conn.cursor(row_factory=dict_row) as cur:
        devices = cur.execute(_DEVICES.format(scope=scope, site_filter=site_filter), args).fetchall()
        quarantined = cur.execute(
            _QUARANTINE.format(scope=scope, site_filter=site_filter, limit=QUARANTINE_LIMIT), args).fetchall()
    window = RATE_WINDOW.total_seconds()
    for d in devices:
        d["transmission"], d["validity"] = rates(
            int(d["samples"]), int(d["valid"]), int(d["pollutants"]), int(d["reporting_interval_seconds"]), window)
        d["age_seconds"] = (now - d["last_seen_at"]).total_seconds() if d["last_seen_at"] else None
    return {"devices": devices, "quarantine": quarantined}
