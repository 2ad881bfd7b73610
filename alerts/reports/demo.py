"""A simulated incident in the database: a week of readings with a breach, the alert, its messages and history.

Used by `envmon report --demo`, the report tests and the benchmark. Readings are deterministic (seeded)
and written with COPY; the alert row and its neighbours are inserted as the alert service would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

from alerts.lifecycle import alert_code
from alerts.reports.errors import ReportError
from envmon.registry.load import load_registry_file
from envmon.registry.store import store_registry

EXAMPLE_REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "fengxian.toml"
# Typical levels at an electroplating outfall, canonical units, and what flow and pH look like.
BASELINES: dict[str, float] = {
    "w20117": 0.02, "w20116": 0.08, "w20121": 0.02, "w20122": 0.05, "w20123": 0.15, "w20115": 0.002,
    "w20120": 0.05, "w20111": 0.0005, "w20119": 0.01, "w01001": 7.6, "w01018": 28.0, "w21003": 2.0,
    "w21001": 8.0, "w21011": 0.3, "w00000": 4.2,
}


@dataclass(frozen=True)
class Scenario:
    """One incident: at `mn`, `pollutant` rises from its baseline to `peak` over the last hours."""

    mn: str = "310120EP001W01"
    pollutant: str = "w20117"
    peak: float = 0.23  # canonical unit; 2.3x GB 21900-2008 Table 3 (0.1 mg/L) for Cr(VI)
    rise_hours_ago: float = 3.0  # when the rise begins
    peak_hours_ago: float = 1.5  # when it peaks; the value stays near the peak after that
    resolved_hours_ago: float | None = None  # the breach ended and the alert resolved
    days: int = 7
    interval_seconds: int = 30
    rule: str = "instant"
    hold_seconds: int = 120
    seed: int = 20261122
    # Calibration (C) at 04:00 local each day for 10 minutes, and one transmission gap of an hour.
    calibration_hour_local: int = 4
    gap_days_ago: float = 3.2
    gap_hours: float = 1.0
    earlier: bool = True
    notifications: bool = True
    extra: dict[str, float] = field(default_factory=dict)


def ensure_registry(conn: psycopg.Connection, path: Path = EXAMPLE_REGISTRY) -> None:
    """Load the example district when the database has no plants yet."""
    if conn.execute("SELECT 1 FROM sites LIMIT 1").fetchone() is None:
        if not path.is_file():
            raise ReportError(f"the database has no plants and the example registry {path} is missing")
        store_registry(conn, load_registry_file(path), actor="report-demo")


def build_incident(conn: psycopg.Connection, scenario: Scenario, *, now: datetime) -> int:
    """Write the scenario's readings, alert, events, notifications and earlier alerts; return the alert id."""
    device_id, pollutants, site_id = _device(conn, scenario.mn)
    limit_id, limit_value = _limit(conn, device_id, site_id, scenario.pollutant, now)
    times = _times(scenario, now)
    values = {p: _values(scenario, p, times, now) for p in pollutants}
    flags = _flags(scenario, times, now)
    _copy_readings(conn, device_id, times, values, flags)
    breach = _first_breach(times, values[scenario.pollutant], flags, limit_value)
    alert_id = _insert_alert(conn, scenario, device_id, limit_id, limit_value, breach, now)
    if scenario.notifications:
        _insert_messages(conn, alert_id, breach, scenario.hold_seconds)
    if scenario.earlier:
        _insert_earlier(conn, device_id, scenario.pollutant, limit_id, now)
    conn.commit()
    return alert_id


def _device(conn: psycopg.Connection, mn: str) -> tuple[int, list[str], int]:
    row = conn.execute("SELECT id, pollutants, site_id FROM devices WHERE mn = %s", (mn,)).fetchone()
    if row is None:
        raise ReportError(f"no device with MN {mn}")
    return int(row[0]), list(row[1]), int(row[2])


def _limit(conn: psycopg.Connection, device_id: int, site_id: int, pollutant: str, at: datetime) -> tuple[int, float]:
    row = conn.execute(
        "SELECT id, upper_value FROM limits WHERE pollutant = %s AND upper_value IS NOT NULL"
        " AND ((scope = 'device' AND device_id = %s) OR (scope = 'site' AND site_id = %s) OR scope = 'default')"
        " AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)"
        " ORDER BY CASE scope WHEN 'device' THEN 0 WHEN 'site' THEN 1 ELSE 2 END, valid_from DESC LIMIT 1",
        (pollutant, device_id, site_id, at, at),
    ).fetchone()
    if row is None:
        raise ReportError(f"no upper limit for {pollutant} at device {device_id}")
    return int(row[0]), float(row[1])


def _times(s: Scenario, now: datetime) -> list[datetime]:
    end = now.replace(second=(now.second // s.interval_seconds) * s.interval_seconds, microsecond=0)
    count = s.days * 86400 // s.interval_seconds
    step = timedelta(seconds=s.interval_seconds)
    gap_end = now - timedelta(days=s.gap_days_ago)
    gap_start = gap_end - timedelta(hours=s.gap_hours)
    all_times = (end - step * i for i in range(count, -1, -1))
    return [t for t in all_times if not gap_start <= t < gap_end]


def _values(s: Scenario, code: str, times: list[datetime], now: datetime) -> np.ndarray:
    base = s.extra.get(code, BASELINES.get(code, 1.0))
    rng = np.random.default_rng(s.seed + sum(map(ord, code)))
    hours_ago = np.array([(now - t).total_seconds() / 3600 for t in times])
    daily = 1 + 0.15 * np.sin(2 * math.pi * hours_ago / 24)
    noise = rng.normal(1.0, 0.04, len(times))
    values = base * daily * noise
    if code == s.pollutant:
        values = np.maximum(values, _bump(s, hours_ago, base))
    return np.asarray(np.round(values, 6))


def _bump(s: Scenario, hours_ago: np.ndarray, base: float) -> np.ndarray:
    """The incident's shape: a ramp to the peak, a plateau just under it, the fall when it resolves."""
    span = max(s.rise_hours_ago - s.peak_hours_ago, 1e-6)
    ramp = np.clip((s.rise_hours_ago - hours_ago) / span, 0.0, 1.0)
    shape = np.where(hours_ago <= s.peak_hours_ago, 0.9 + 0.1 * np.exp(-np.abs(hours_ago - s.peak_hours_ago)), ramp)
    if s.resolved_hours_ago is not None:
        shape = np.where(hours_ago < s.resolved_hours_ago, 0.0, shape)
    bump = base + (s.peak - base) * shape
    # Exactly one sample carries the peak, so a report's peak can be checked against the scenario.
    bump[np.argmin(np.abs(hours_ago - s.peak_hours_ago))] = s.peak
    return np.asarray(bump)


def _flags(s: Scenario, times: list[datetime], now: datetime) -> list[str]:
    offset = timedelta(hours=8)  # China Standard Time: the calibration runs at a local hour
    return ["C" if (t + offset).hour == s.calibration_hour_local and (t + offset).minute < 10 else "N" for t in times]


def _copy_readings(
    conn: psycopg.Connection, device_id: int, times: list[datetime], values: dict[str, np.ndarray], flags: list[str]
) -> None:
    # Through a staging table, so a second demo in the same database keeps what is there instead of failing.
    conn.execute(
        "CREATE TEMPORARY TABLE demo_readings (LIKE readings INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    with conn.cursor().copy("COPY demo_readings (time, device_id, pollutant, value, flag, seq) FROM STDIN") as copy:
        for code, column in values.items():
            for i, (t, v) in enumerate(zip(times, column.tolist(), strict=True)):
                copy.write_row((t, device_id, code, v, flags[i], i))
    conn.execute("INSERT INTO readings SELECT * FROM demo_readings ON CONFLICT DO NOTHING")


def _first_breach(
    times: list[datetime], values: np.ndarray, flags: list[str], limit: float
) -> tuple[datetime, float, datetime]:
    """The first valid sample above the limit, and the peak (value, time)."""
    over = [i for i, v in enumerate(values.tolist()) if v > limit and flags[i] == "N"]
    if not over:
        raise ReportError("the scenario never breaches its limit: raise its peak")
    peak_i = max(over, key=lambda i: (float(values[i]), -i))
    return times[over[0]], float(values[peak_i]), times[peak_i]


def _insert_alert(
    conn: psycopg.Connection,
    s: Scenario,
    device_id: int,
    limit_id: int,
    limit_value: float,
    breach: tuple[datetime, float, datetime],
    now: datetime,
) -> int:
    first, peak, peak_at = breach
    # One active alert per device, pollutant and rule: an earlier demo's alert gives way to this one.
    conn.execute(
        "UPDATE alerts SET state = 'closed', closed_at = %s, note = 'superseded by a new demo incident'"
        " WHERE device_id = %s AND pollutant = %s AND rule = %s AND state IN ('open', 'escalated', 'acknowledged')",
        (now, device_id, s.pollutant, s.rule),
    )
    severe = conn.execute("SELECT severe_multiple FROM limits WHERE id = %s", (limit_id,)).fetchone()
    severity = "severe" if severe and severe[0] and peak > limit_value * severe[0] else "exceedance"
    resolved = now - timedelta(hours=s.resolved_hours_ago) if s.resolved_hours_ago is not None else None
    alert_id = int(conn.execute("SELECT nextval(pg_get_serial_sequence('alerts', 'id'))").fetchone()[0])  # type: ignore[index]
    conn.execute(
        "INSERT INTO alerts (id, code, device_id, pollutant, rule, category, severity, state, limit_id, opened_at,"
        " first_breach_at, peak_value, peak_at, last_value, resolved_at, escalation_level, limit_value, latched)"
        " OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, 'pollution', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
        " true)",
        (
            alert_id, alert_code(alert_id), device_id, s.pollutant, s.rule, severity,
            "resolved" if resolved else "escalated", limit_id, first + timedelta(seconds=s.hold_seconds), first,
            peak, peak_at, peak, resolved, 0 if resolved else 1, limit_value,
        ),
    )
    return alert_id


def _insert_messages(
    conn: psycopg.Connection, alert_id: int, breach: tuple[datetime, float, datetime], hold: int
) -> None:
    opened = breach[0] + timedelta(seconds=hold)
    escalated = opened + timedelta(minutes=15)
    conn.execute(
        "INSERT INTO alert_events (alert_id, time, from_state, to_state, actor, reason) VALUES"
        " (%s, %s, NULL, 'open', 'engine', 'limit exceeded for the hold time'),"
        " (%s, %s, 'open', 'escalated', 'engine', 'not acknowledged within 15 min')",
        (alert_id, opened, alert_id, escalated),
    )
    recipients = conn.execute(
        "SELECT id, phone FROM recipients WHERE code IN ('insp-zhang-wei', 'lead-huang-min') ORDER BY code DESC"
    ).fetchall()
    sends = (("new", opened, "delivered"), ("escalation", escalated, "sent"))
    for (rid, phone), (reason, at, status) in zip(recipients, sends, strict=False):
        conn.execute(
            "INSERT INTO notifications (alert_id, recipient_id, phone, reason, body, status, created_at, sent_at,"
            " attempts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1)",
            (alert_id, rid, phone, reason, f"envmon alert {alert_id}", status, at, at + timedelta(seconds=3)),
        )


def _insert_earlier(conn: psycopg.Connection, device_id: int, pollutant: str, limit_id: int, now: datetime) -> None:
    for days_ago, disposition, note in (
        (63, "confirmed", "还原池加药泵故障,已立案调查 / dosing pump failure, case opened"),
        (21, "device_fault", "分析仪试剂过期 / analyser reagent expired"),
    ):
        at = now - timedelta(days=days_ago)
        alert_id = int(conn.execute("SELECT nextval(pg_get_serial_sequence('alerts', 'id'))").fetchone()[0])  # type: ignore[index]
        conn.execute(
            "INSERT INTO alerts (id, code, device_id, pollutant, rule, category, severity, state, limit_id, opened_at,"
            " first_breach_at, peak_value, peak_at, acknowledged_at, acknowledged_by, disposition, resolved_at,"
            " closed_at, note) OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, 'day_avg', 'pollution', 'exceedance',"
            " 'closed', %s, %s, %s, 0.14, %s, %s, 'insp-zhang-wei', %s, %s, %s, %s)",
            (
                alert_id, alert_code(alert_id), device_id, pollutant, limit_id, at, at, at, at + timedelta(hours=1),
                disposition, at + timedelta(hours=5), at + timedelta(days=1), note,
            ),
        )
