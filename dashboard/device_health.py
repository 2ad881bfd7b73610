"""Device health: last seen, transmission and validity rates, open device alerts, quarantined messages.

The list is sorted, filtered, grouped and paginated here, on the server: a district of 2,000 devices sends
one page of rows, not a 7,000-pixel table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dashboard.access import User, scope_clause

# Rates are measured over the last hour of the 1-minute aggregate: recent enough to show a fault now.
RATE_WINDOW = timedelta(hours=1)
QUARANTINE_LIMIT = 100
PAGE_SIZES = (25, 50, 100, 200)
STATUSES = ("all", "offline", "online", "alerting")
# An offline device is one that missed this many reporting intervals (the overview's rule).
OFFLINE_INTERVALS = 3
# Sort keys people can choose, and the row value each sorts by (missing values last in either direction).
SORTS = ("plant", "device", "last_seen", "transmission", "validity", "alerts")

# valid: after data review. readings_1m keeps the logger's flags (a TimescaleDB continuous aggregate cannot
# join the marks), so the values under an active review mark that the logger called valid are taken off
# (unmade); marked counts the values under a mark. Only marked readings are read, through
# data_marks_active_device (migration 0027) and the readings key; active marks never overlap, so no value
# counts twice. Marked values stay received (the device did send them): a mark lowers the validity rate,
# not the transmission rate. The rows of readings_1m are whole minutes from `since` on; so are these.
# first_seen: the device's oldest stored reading, one index probe per pollutant (readings_key leads with
# device, pollutant, basis, time), so a device that came on line ten minutes ago is not charged for fifty.
_DEVICES = """
SELECT d.id AS device_id, d.mn, d.kind, d.transport, d.reporting_interval_seconds, d.point_name_zh, d.point_name_en,
       s.code AS site_code, s.name_zh AS site_name_zh, s.name_en AS site_name_en, s.district,
       ds.last_seen_at, ds.last_seq, coalesce(m.samples, 0) AS samples,
       coalesce(m.valid, 0) - coalesce(mk.unmade, 0) AS valid, coalesce(mk.marked, 0) AS marked,
       coalesce(m.series, 0) AS series, cardinality(d.pollutants) AS pollutants, f.first_seen,
       (SELECT count(*) FROM alerts a WHERE a.device_id = d.id AND a.category = 'device'
          AND a.state IN ('open', 'escalated', 'acknowledged')) AS open_device_alerts
FROM devices d JOIN sites s ON s.id = d.site_id
LEFT JOIN device_state ds ON ds.device_id = d.id
LEFT JOIN LATERAL (
    SELECT sum(sample_count) AS samples, sum(valid_count) AS valid, count(DISTINCT pollutant) AS series
    FROM readings_1m WHERE device_id = d.id AND basis = 'instant' AND bucket >= %(since)s
) m ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS marked, count(*) FILTER (WHERE r.flag = 'N') AS unmade
    FROM data_marks k JOIN readings r
      ON r.device_id = k.device_id AND (k.pollutant IS NULL OR r.pollutant = k.pollutant) AND r.basis = 'instant'
     AND r.time >= greatest(k.start_at, %(since)s) AND r.time < k.end_at
     AND date_bin(INTERVAL '1 minute', r.time, TIMESTAMPTZ '2000-01-01 00:00:00+00') >= %(since)s
    WHERE k.state = 'active' AND k.device_id = d.id AND k.end_at > %(since)s
) mk ON true
LEFT JOIN LATERAL (
    SELECT min((SELECT min(r.time) FROM readings r
                WHERE r.device_id = d.id AND r.pollutant = p.code AND r.basis = 'instant')) AS first_seen
    FROM unnest(d.pollutants) AS p(code)
) f ON true
WHERE d.active AND {scope} {site_filter}
"""

_QUARANTINE = """
SELECT q.id, q.received_at, q.transport, q.source, q.device_mn, q.reason, q.detail, length(q.raw) AS raw_bytes
FROM quarantine q JOIN devices d ON d.mn = q.device_mn JOIN sites s ON s.id = d.site_id
WHERE {scope} {site_filter}
ORDER BY q.received_at DESC LIMIT {limit}
"""


@dataclass(frozen=True, slots=True)
class HealthQuery:
    """What the device list shows: filters, order, page and grouping."""

    site: str | None = None
    search: str = ""
    status: str = "all"
    sort: str = "plant"
    descending: bool = False
    page: int = 1
    per_page: int = 50
    group: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUSES or self.sort not in SORTS or self.per_page not in PAGE_SIZES or self.page < 1:
            raise ValueError("health query")


def parse_health_query(params: Mapping[str, str]) -> HealthQuery:
    """The query of a page or API request (site, q, status, sort, dir, page, per_page, group); ValueError if bad."""
    return HealthQuery(
        site=params.get("site") or None, search=params.get("q", "")[:100], status=params.get("status") or "all",
        sort=params.get("sort") or "plant", descending=params.get("dir") == "desc",
        page=int(params.get("page") or 1), per_page=int(params.get("per_page") or 50),
        group=params.get("group") == "1",
    )


def rates(
    samples: int, valid: int, pollutants: int, interval_seconds: int, window_seconds: float
) -> tuple[float, float]:
    """(transmission, validity) as fractions: samples received of those expected, valid of received."""
    expected = pollutants * window_seconds / interval_seconds
    transmission = min(samples / expected, 1.0) if expected > 0 else 0.0
    validity = valid / samples if samples else 0.0
    return transmission, validity


def rate_window_seconds(now: datetime, first_seen: datetime | None) -> float | None:
    """Seconds the rates count over: the last hour, or since the device was first seen when that is later."""
    if first_seen is None:
        return None
    start = max(now - RATE_WINDOW, first_seen)
    return max((now - start).total_seconds(), 0.0)


def is_offline(device: dict[str, Any]) -> bool:
    """Never seen, or silent for more than OFFLINE_INTERVALS reporting intervals."""
    age = device["age_seconds"]
    return age is None or age > OFFLINE_INTERVALS * int(device["reporting_interval_seconds"])


def matches(device: dict[str, Any], q: HealthQuery) -> bool:
    """Whether a device passes the status filter and the search text (MN, point, plant code or name)."""
    if q.status == "offline" and not is_offline(device):
        return False
    if q.status == "online" and is_offline(device):
        return False
    if q.status == "alerting" and not device["open_device_alerts"]:
        return False
    needle = q.search.strip().casefold()
    fields = ("mn", "point_name_zh", "point_name_en", "site_code", "site_name_zh", "site_name_en")
    return not needle or any(needle in str(device[f] or "").casefold() for f in fields)


def sort_value(device: dict[str, Any], key: str) -> Any:
    """The value a device sorts by under a sort key (None when it has none, e.g. never seen)."""
    return {
        "plant": (device["site_code"], device["mn"]), "device": device["mn"], "last_seen": device["age_seconds"],
        "transmission": device["transmission"], "validity": device["validity"],
        "alerts": device["open_device_alerts"],
    }[key]


def ordered(devices: list[dict[str, Any]], q: HealthQuery) -> list[dict[str, Any]]:
    """Devices in the chosen order (missing values last either way), grouped by plant first when asked."""
    known = [d for d in devices if sort_value(d, q.sort) is not None]
    missing = [d for d in devices if sort_value(d, q.sort) is None]
    known.sort(key=lambda d: (sort_value(d, q.sort), d["mn"]), reverse=q.descending)
    missing.sort(key=lambda d: d["mn"])
    rows = known + missing
    if q.group:
        rows.sort(key=lambda d: d["site_code"])  # stable: keeps the chosen order inside each plant
    return rows


def paginate(rows: list[dict[str, Any]], page: int, per_page: int) -> tuple[list[dict[str, Any]], int, int]:
    """(the page's rows, the page shown (clamped to the last), the number of pages)."""
    pages = max(1, -(-len(rows) // per_page))
    shown = min(page, pages)
    return rows[(shown - 1) * per_page: shown * per_page], shown, pages


def load_device_health(conn: psycopg.Connection, user: User, *, now: datetime, query: HealthQuery) -> dict[str, Any]:
    """One page of devices in scope with their rates, the totals, and the recent quarantined messages."""
    devices, quarantined = _fetch(conn, user, now=now, site=query.site)
    for d in devices:
        window = rate_window_seconds(now, d["first_seen"])
        d["transmission"], d["validity"] = (None, None) if window is None else rates(
            int(d["samples"]), int(d["valid"]), int(d["pollutants"]), int(d["reporting_interval_seconds"]), window)
        d["age_seconds"] = (now - d["last_seen_at"]).total_seconds() if d["last_seen_at"] else None
        d["offline"] = is_offline(d)
    chosen = ordered([d for d in devices if matches(d, query)], query)
    rows, page, pages = paginate(chosen, query.page, query.per_page)
    return {"devices": rows, "total": len(chosen), "all_devices": len(devices), "page": page, "pages": pages,
            "offline": sum(1 for d in devices if d["offline"]), "quarantine": quarantined}


def _fetch(
    conn: psycopg.Connection, user: User, *, now: datetime, site: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    scope, params = scope_clause(user, "s")
    site_filter = "AND s.code = %(site)s" if site else ""
    args = {**params, "since": now - RATE_WINDOW, "site": site}
    with conn.cursor(row_factory=dict_row) as cur:
        devices = cur.execute(_DEVICES.format(scope=scope, site_filter=site_filter), args).fetchall()
        quarantined = cur.execute(
            _QUARANTINE.format(scope=scope, site_filter=site_filter, limit=QUARANTINE_LIMIT), args).fetchall()
    return devices, quarantined
