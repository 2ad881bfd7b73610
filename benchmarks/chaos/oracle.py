"""The oracle: `envmon replay` over the stored readings, compared with what the live platform did.

- alerts: the (device, pollutant, rule, level) reached live, against those the replay reaches;
- SMS: each SMS the replay would send is an expected (phone, device, pollutant, rule, reason); live it must
  have been received by the fake Twilio at least once and no outbox row more than twice;
- silent alerts: pollution and safety alerts nobody was told of and with no recorded suppression reason
  (the invariant of alerts/notify/heard.py, over every alert of the run).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from alerts.notify.fake_twilio import RecordedRequest
from alerts.notify.heard import HEARD_CATEGORIES, HEARD_STATUSES
from benchmarks.chaos.ledger import PROBE_SEQ
from envmon.catalogue import load_catalogue
from envmon.domain import SEVERITY_RANK

AlertLevel = tuple[str, str, str, str]
SmsKey = tuple[str, str, str, str, str]

_READINGS = """
SELECT r.time, d.mn, r.pollutant, r.value, r.flag FROM readings r JOIN devices d ON d.id = r.device_id
WHERE r.basis = 'instant' AND r.seq <> %s ORDER BY r.time, d.mn, r.pollutant
"""


def export_readings(conn: psycopg.Connection, path: Path) -> int:
    """The stored readings as a replay CSV (values back in the protocol unit); returns how many."""
    factors = {p.code: p.protocol_factor for p in load_catalogue().pollutants}
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["time", "device", "pollutant", "value", "flag"])
        for time, mn, code, value, flag in conn.execute(_READINGS, [PROBE_SEQ]):
            writer.writerow([time.isoformat(), mn, code, repr(round(value / factors[code], 6)), flag])
            count += 1
    return count


def run_replay(registry: Path, readings: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """`envmon replay --registry REGISTRY READINGS` as a command; its JSON lines."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "envmon_app", "replay", "--registry", str(registry), str(readings)],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def replay_levels(lines: Sequence[dict[str, Any]]) -> set[AlertLevel]:
    """(device, pollutant, rule, level) of each opening and severity change in the replay."""
    return {(x["device"], x["pollutant"], x["rule"], x["level"]) for x in lines
            if x["kind"] == "transition" and x["transition"] in ("open", "severity")}


def replay_sms(lines: Sequence[dict[str, Any]]) -> Counter[SmsKey]:
    """The SMS the replay sends, by (phone, device, pollutant, rule, reason)."""
    return Counter((x["phone"], x["device"], x["pollutant"], x["rule"], x["reason"]) for x in lines
                   if x["kind"] == "notification" and x["status"] == "pending")


def replay_severity_levels(lines: Sequence[dict[str, Any]]) -> dict[SmsKey, str]:
    """The highest level the replay's 'severity' SMS announced, by (phone, device, pollutant, rule, reason)."""
    levels: dict[SmsKey, str] = {}
    for x in lines:
        if x["kind"] == "notification" and x["status"] == "pending" and x["reason"] == "severity":
            key = (x["phone"], x["device"], x["pollutant"], x["rule"], x["reason"])
            if key not in levels or SEVERITY_RANK[x["level"]] > SEVERITY_RANK[levels[key]]:
                levels[key] = x["level"]
    return levels


_LEVELS = """
SELECT d.mn, a.pollutant, a.rule, CASE e.reason WHEN 'opened' THEN e.detail->>'severity' ELSE e.detail->>'to' END
FROM alert_events e JOIN alerts a ON a.id = e.alert_id JOIN devices d ON d.id = a.device_id
WHERE e.reason IN ('opened', 'severity_raised', 'severity_lowered')
"""
_OUTBOX = """
SELECT n.id, n.phone, n.body, n.status, n.provider_id, d.mn, a.pollutant, a.rule, n.reason, n.severity
FROM notifications n JOIN alerts a ON a.id = ANY(n.alert_ids) JOIN devices d ON d.id = a.device_id
ORDER BY n.id
"""
# The invariant of alerts/notify/heard.py (as alerts/store.py `_SILENT`), over every alert the run opened, in any state.
_SILENT = """
SELECT a.code, d.mn, a.pollutant, a.rule, a.severity, a.state FROM alerts a JOIN devices d ON d.id = a.device_id
WHERE a.category = ANY(%(categories)s) AND NOT EXISTS (
    SELECT 1 FROM notifications n WHERE n.alert_ids @> ARRAY[a.id]
      AND (n.status = ANY(%(heard)s) OR (n.status = 'suppressed' AND coalesce(n.last_error, '') <> '')))
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One notification row about one alert."""

    id: int
    phone: str
    body: str
    status: str
    provider_id: str | None
    key: SmsKey
    severity: str | None = None  # the severity the message announced


def live_levels(conn: psycopg.Connection) -> set[AlertLevel]:
    """(device, pollutant, rule, level) of each opening and severity change the live engine recorded."""
    return {(r[0], r[1], r[2], r[3]) for r in conn.execute(_LEVELS).fetchall()}


def live_outbox(conn: psycopg.Connection) -> list[OutboxRow]:
    """Every notification row, once per alert it is about."""
    return [OutboxRow(r[0], r[1], r[2], r[3], r[4], (r[1], r[5], r[6], r[7], r[8]), r[9])
            for r in conn.execute(_OUTBOX).fetchall()]


def silent_alerts(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Pollution and safety alerts nobody was told of (queued, sent or delivered) and with no recorded reason."""
    keys = ("code", "device", "pollutant", "rule", "level", "state")
    params = {"categories": sorted(HEARD_CATEGORIES), "heard": sorted(HEARD_STATUSES)}
    return [dict(zip(keys, r, strict=True)) for r in conn.execute(_SILENT, params).fetchall()]


def sends_per_row(rows: Sequence[OutboxRow], received: Sequence[RecordedRequest]) -> dict[int, int]:
    """How many times the fake Twilio received each notification: by its message SID, and each SID no row
    kept (a send whose answer or record was lost to a fault) by phone and body, to the first such row."""
    ids = {r.id: r for r in rows}
    by_sid = {r.provider_id: r.id for r in ids.values() if r.provider_id}
    by_text: dict[tuple[str, str], int] = {}
    for r in sorted(ids.values(), key=lambda r: r.id):
        by_text.setdefault((r.phone, r.body), r.id)
    sends: Counter[int] = Counter()
    for message in received:
        row = by_sid.get(message.sid) if message.sid else None
        row = row if row is not None else by_text.get((message.to, message.body))
        if row is not None:
            sends[row] += 1
    return {i: sends.get(i, 0) for i in ids}


def compare_sms(expected: Counter[SmsKey], rows: Sequence[OutboxRow], sends: dict[int, int],
                severity_levels: dict[SmsKey, str] | None = None) -> dict[str, Any]:
    """Missed SMS (expected, never received), rows sent twice and more than twice, unexpected ones.

    The live engine batches readings as they come (and in catch-up chunks after a restart), so an alert
    that opened and rose in one batch is told once, by an opening SMS that already names the higher level,
    where the replay (fixed time steps) sent an opening and a 'severity' SMS. Such a 'severity' SMS counts
    as folded (`severity_folded`), not missed, when a received opening SMS to that phone about that alert
    key announced at least its level (`severity_levels`: replay_severity_levels)."""
    heard: Counter[SmsKey] = Counter()
    made: Counter[SmsKey] = Counter()
    for r in rows:
        if r.status != "suppressed":
            made[r.key] += 1
            heard[r.key] += sends[r.id] > 0
    missed = {k: n - heard[k] for k, n in expected.items() if heard[k] < n}
    folded = {k: n for k, n in missed.items() if _told_in_opening(k, (severity_levels or {}).get(k), rows, sends)}
    missed = {k: n for k, n in missed.items() if k not in folded}
    sent = {r.id: sends[r.id] for r in rows if r.status != "suppressed"}
    return {
        "sms_expected": sum(expected.values()), "sms_received": sum(sent.values()),
        "missed_sms": sum(missed.values()), "severity_folded": sum(folded.values()),
        "sms_sent_twice": sum(1 for n in sent.values() if n == 2),
        "sms_sent_more_than_twice": sum(1 for n in sent.values() if n > 2),
        "max_sends_of_one_sms": max(sent.values(), default=0),
        "unexpected_sms": sum(max(0, n - expected.get(k, 0)) for k, n in made.items()),
        "missed_examples": [list(k) + [n] for k, n in sorted(missed.items())[:10]],
        # What the live outbox holds for each missed message's phone and alert key (any reason): tells a message
        # never written, or written and not sent, from one the live engine folded into another (e.g. an opening
        # SMS that already announced the raised severity because both came in one batch).
        "missed_context": {"|".join(k): _live_rows_of(k, rows, sends) for k, _ in sorted(missed.items())[:10]},
        "over_examples": sorted({(r.id, *r.key, sends[r.id]) for r in rows if sends[r.id] > 2})[:10],
    }


def _live_rows_of(key: SmsKey, rows: Sequence[OutboxRow], sends: dict[int, int]) -> list[list[object]]:
    """(row id, reason, severity, status, times sent) of the live rows to the key's phone about its alert key."""
    return [[r.id, r.key[4], r.severity, r.status, sends[r.id]] for r in rows if r.key[:4] == key[:4]]


def _told_in_opening(key: SmsKey, level: str | None, rows: Sequence[OutboxRow], sends: dict[int, int]) -> bool:
    """A received opening (or escalation) SMS to the key's phone about its alert key named `level` or higher."""
    if key[4] != "severity" or level is None:
        return False
    return any(r.key[:4] == key[:4] and r.key[4] in ("new", "escalation") and sends[r.id] > 0
               and r.severity is not None and SEVERITY_RANK[r.severity] >= SEVERITY_RANK[level] for r in rows)
