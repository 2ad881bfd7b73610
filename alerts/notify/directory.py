"""Who is told about what: escalation chains with their recipients, maintenance windows and silences,
read from the registry tables for the notification planner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from alerts.lifecycle import AlertRecord
from alerts.model import DeviceSpec
from alerts.notify.escalation import RoutedAlert
from alerts.notify.routing import (
    AlertScope,
    EscalationChain,
    EscalationStep,
    MaintenanceWindow,
    Recipient,
    Silence,
    match_chains,
    suppression_reason,
)

_CHAINS = """
SELECT c.id, c.code, c.repeat_interval_seconds, c.districts, c.industries, c.site_codes, c.categories, c.severities,
       s.position, s.delay_seconds, r.id, r.code, r.name, r.phone, r.locale, r.active
FROM escalation_chains c
JOIN escalation_steps s ON s.chain_id = c.id
JOIN recipients r ON r.id = s.recipient_id
ORDER BY c.id, s.position, r.id
"""
_WINDOWS = """
SELECT site_id, device_id, starts_at, ends_at, reason FROM maintenance_windows WHERE ends_at > %(now)s
"""
_SILENCES = """
SELECT s.starts_at, s.ends_at, s.reason, st.code, s.device_id, s.rule
FROM silences s LEFT JOIN sites st ON st.id = s.site_id WHERE s.ends_at > %(now)s
"""


@dataclass(frozen=True)
class RoutingData:
    """Chains, the site of each device, and what suppresses notifications now or later."""

    chains: tuple[EscalationChain, ...]
    site_ids: dict[int, int]
    windows: tuple[MaintenanceWindow, ...]
    silences: tuple[Silence, ...]

    def route(self, alert: AlertRecord, device: DeviceSpec, now: datetime) -> RoutedAlert:
        """The alert with its matching chains and why its notifications are held back, if they are."""
        scope = AlertScope(
            district=device.district, industry=device.industry, site_code=device.site_code,
            site_id=self.site_ids.get(device.device_id), device_id=device.device_id, pollutant=alert.key.pollutant,
            rule=alert.key.rule, category=alert.category, severity=alert.severity,
        )
        chains = match_chains(self.chains, scope)
        reason = suppression_reason(scope, self.windows, self.silences, now)
        return RoutedAlert(alert, device.site_code, chains, reason)


def _chains(rows: list[tuple[Any, ...]]) -> tuple[EscalationChain, ...]:
    steps: dict[int, dict[int, list[Recipient]]] = {}
    heads: dict[int, tuple[Any, ...]] = {}
    for r in rows:
        heads.setdefault(r[0], r)
        steps.setdefault(r[0], {}).setdefault(r[8], []).append(Recipient(r[10], r[11], r[12], r[13], r[14], r[15]))
    delays = {(r[0], r[8]): r[9] for r in rows}
    return tuple(
        EscalationChain(
            id=h[0], code=h[1], repeat_interval_seconds=h[2],
            steps=tuple(EscalationStep(p, delays[(cid, p)], tuple(rs)) for p, rs in sorted(steps[cid].items())),
            districts=frozenset(h[3]), industries=frozenset(h[4]), site_codes=frozenset(h[5]),
            categories=frozenset(h[6]), severities=frozenset(h[7]),
        )
        for cid, h in heads.items()
    )


def load_routing(conn: psycopg.Connection, now: datetime) -> RoutingData:
    """Read chains, device sites, current and future maintenance windows and silences."""
    chains = _chains(conn.execute(_CHAINS).fetchall())
    site_ids: dict[int, int] = dict(conn.execute("SELECT id, site_id FROM devices").fetchall())
    windows = tuple(MaintenanceWindow(*r) for r in conn.execute(_WINDOWS, {"now": now}).fetchall())
    silences = tuple(
        Silence(
            starts_at=r[0], ends_at=r[1], reason=r[2], site_codes=frozenset([r[3]] if r[3] else []),
            device_ids=frozenset([r[4]] if r[4] is not None else []), rules=frozenset([r[5]] if r[5] else []),
        )
        for r in conn.execute(_SILENCES, {"now": now}).fetchall()
    )
    return RoutingData(chains, site_ids, windows, silences)
