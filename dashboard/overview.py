"""The overview: every plant in the user's scope with its worst open alert, device health and position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from dashboard.access import User, scope_clause
from dashboard.plant import Plant
from envmon.domain import LATCHING_SEVERITIES

# Tile colours, worst first: a pollution or gas alarm beats a pre-warning beats a device problem.
STATUS_ORDER = ("alarm", "warning", "fault", "ok")
# Alarms are the latching severities: a pollution or gas alarm, not a pre-warning or a fault.
ALARM_SEVERITIES = LATCHING_SEVERITIES
# A device is offline after this many missed reporting intervals.
OFFLINE_INTERVALS = 3


def plant_status(severities: set[str], devices_offline: int) -> str:
    """A tile's status from its open alerts' severities and its offline devices."""
    if severities & ALARM_SEVERITIES:
        return "alarm"
    if "warning" in severities:
        return "warning"
    if "fault" in severities or devices_offline > 0:
        return "fault"
    return "ok"


@dataclass(frozen=True, slots=True)
class PlantTile(Plant):
    """One plant on the map: the plant with its devices and open alerts."""

    devices: int
    devices_offline: int
    open_alerts: int
    status: str
    district_zh: str = ""  # the district's name for people (the code stays in `district`)
    district_en: str = ""


_PLANTS = """
SELECT s.id, s.code, s.name_zh, s.name_en, s.district, s.industry, s.latitude, s.longitude,
       count(d.id) AS devices,
       count(d.id) FILTER (WHERE ds.last_seen_at IS NULL
           OR ds.last_seen_at < %(now)s - make_interval(secs => {offline} * d.reporting_interval_seconds)) AS offline,
       coalesce(min(dn.name_zh), s.district), coalesce(min(dn.name_en), s.district)
FROM sites s
LEFT JOIN districts dn ON dn.code = s.district
LEFT JOIN devices d ON d.site_id = s.id AND d.active
LEFT JOIN device_state ds ON ds.device_id = d.id
WHERE s.active AND {scope}
GROUP BY s.id ORDER BY s.code
"""

_ALERTS = """
SELECT d.site_id, a.severity, count(*)
FROM alerts a JOIN devices d ON d.id = a.device_id JOIN sites s ON s.id = d.site_id
WHERE a.state IN ('open', 'escalated', 'acknowledged') AND {scope}
GROUP BY d.site_id, a.severity
"""


def load_overview(conn: psycopg.Connection, user: User, *, now: datetime) -> dict[str, Any]:
    """Plant tiles and open alert counts by severity, limited to the user's plants."""
    scope, params = scope_clause(user, "s")
    plants = conn.execute(_PLANTS.format(scope=scope, offline=OFFLINE_INTERVALS), {**params, "now": now}).fetchall()
    per_site: dict[int, dict[str, int]] = {}
    for site_id, severity, n in conn.execute(_ALERTS.format(scope=scope), params).fetchall():
        per_site.setdefault(site_id, {})[severity] = int(n)
    tiles = [_tile(row, per_site.get(row[0], {})) for row in plants]
    counts: dict[str, int] = {}
    for severities in per_site.values():
        for severity, n in severities.items():
            counts[severity] = counts.get(severity, 0) + n
    return {"plants": tiles, "open_alerts_by_severity": counts, "generated_at": now}


def _tile(row: tuple[Any, ...], severities: dict[str, int]) -> PlantTile:
    offline = int(row[9])
    return PlantTile(
        code=row[1], name_zh=row[2], name_en=row[3], district=row[4], industry=row[5], latitude=row[6],
        longitude=row[7], devices=int(row[8]), devices_offline=offline, open_alerts=sum(severities.values()),
        status=plant_status(set(severities), offline), district_zh=row[10], district_en=row[11],
    )


def draw_order(tiles: list[PlantTile]) -> list[PlantTile]:
    """Tiles in the order the map draws them: best first, so the worst (an alarm) lies on top of the rest."""
    rank = {status: i for i, status in enumerate(STATUS_ORDER)}
    return sorted(tiles, key=lambda t: (-rank[t.status], t.code))


def map_positions(
    tiles: list[PlantTile], *, width: float, height: float, margin: float
) -> dict[str, tuple[float, float]]:
    """SVG coordinates of each plant from its latitude and longitude (equirectangular, north up)."""
    placed = [t for t in tiles if t.latitude is not None and t.longitude is not None]
    if not placed:
        return {}
    lats = [t.latitude for t in placed if t.latitude is not None]
    lons = [t.longitude for t in placed if t.longitude is not None]
    mid_lat, mid_lon = (max(lats) + min(lats)) / 2, (max(lons) + min(lons)) / 2
    span_lat = max(max(lats) - min(lats), 1e-6)
    span_lon = max(max(lons) - min(lons), 1e-6)
    scale = min((width - 2 * margin) / span_lon, (height - 2 * margin) / span_lat)
    out: dict[str, tuple[float, float]] = {}
    for t in placed:
        assert t.latitude is not None and t.longitude is not None
        out[t.code] = (width / 2 + (t.longitude - mid_lon) * scale, height / 2 - (t.latitude - mid_lat) * scale)
    return out
