"""Routing: chain matching by district, industry, site, category and severity; steps; suppression."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.notify.routing import (
    AlertScope,
    EscalationChain,
    EscalationStep,
    MaintenanceWindow,
    Recipient,
    Silence,
    chain_matches,
    match_chains,
    step_recipients,
    suppression_reason,
)

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
ZHANG = Recipient(1, "insp-zhang-wei", "张伟", "+8613998369006")
LI = Recipient(2, "insp-li-na", "李娜", "+8613902677354", active=False)
HUANG = Recipient(3, "lead-huang-min", "黄敏", "+8613900000003")
STEPS = (EscalationStep(0, 0, (ZHANG, LI)), EscalationStep(1, 900, (HUANG,)))
ANY = EscalationChain(1, "any", 1800, STEPS)
SCOPE = AlertScope(
    district="fengxian", industry="electroplating", site_code="FX-EP-001", site_id=11, device_id=7,
    pollutant="w20116", rule="instant", category="pollution", severity="exceedance",
)


@pytest.mark.parametrize(
    ("chain", "matches"),
    [
        pytest.param(ANY, True, id="empty-lists-match-anything"),
        pytest.param(replace(ANY, districts=frozenset({"fengxian"})), True, id="district-listed"),
        pytest.param(replace(ANY, districts=frozenset({"jinshan"})), False, id="other-district"),
        pytest.param(replace(ANY, industries=frozenset({"electroplating", "lead_acid_battery"})), True, id="industry-listed"),
        pytest.param(replace(ANY, industries=frozenset({"chemical"})), False, id="other-industry"),
        pytest.param(replace(ANY, site_codes=frozenset({"FX-EP-001"})), True, id="site-listed"),
        pytest.param(replace(ANY, site_codes=frozenset({"FX-EP-002"})), False, id="other-site"),
        pytest.param(replace(ANY, categories=frozenset({"safety"})), False, id="other-category"),
        pytest.param(replace(ANY, severities=frozenset({"severe"})), False, id="only-severe"),
        pytest.param(replace(ANY, severities=frozenset({"exceedance", "severe"})), True, id="severity-listed"),
        pytest.param(
            replace(ANY, districts=frozenset({"fengxian"}), categories=frozenset({"device"})), False, id="all-lists-must-match"
        ),
    ],
)
def test_chain_matching(chain: EscalationChain, matches: bool) -> None:
    assert chain_matches(chain, SCOPE) is matches


def test_every_matching_chain_is_returned_in_order() -> None:
    gas = replace(ANY, id=2, code="gas", categories=frozenset({"safety"}))
    district = replace(ANY, id=3, code="district", districts=frozenset({"fengxian"}))
    assert [c.code for c in match_chains([ANY, gas, district], SCOPE)] == ["any", "district"]


@pytest.mark.parametrize(
    ("position", "codes"),
    [
        pytest.param(0, ["insp-zhang-wei"], id="inactive-recipient-skipped"),
        pytest.param(1, ["lead-huang-min"], id="second-step"),
        pytest.param(5, [], id="no-such-step"),
    ],
)
def test_step_recipients(position: int, codes: list[str]) -> None:
    assert [r.code for r in step_recipients(ANY, position)] == codes


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("windows", "silences", "now", "reason"),
    [
        pytest.param([], [], at(0), None, id="nothing"),
        pytest.param([MaintenanceWindow(11, None, at(-10), at(10), "清洗探头")], [], at(0), "maintenance: 清洗探头", id="site-window"),
        pytest.param([MaintenanceWindow(None, 7, at(-10), at(10), "校准")], [], at(0), "maintenance: 校准", id="device-window"),
        pytest.param([MaintenanceWindow(None, 8, at(-10), at(10), "x")], [], at(0), None, id="other-device-window"),
        pytest.param([MaintenanceWindow(12, None, at(-10), at(10), "x")], [], at(0), None, id="other-site-window"),
        pytest.param([MaintenanceWindow(11, None, at(-10), at(10), "x")], [], at(10), None, id="window-end-is-exclusive"),
        pytest.param([MaintenanceWindow(11, None, at(1), at(10), "x")], [], at(0), None, id="window-not-started"),
        pytest.param([], [Silence(at(5), "known", rules=frozenset({"instant"}))], at(0), "silenced: known", id="silence-by-rule"),
        pytest.param([], [Silence(at(5), "known", pollutants=frozenset({"w01018"}))], at(0), None, id="silence-other-pollutant"),
        pytest.param([], [Silence(at(5), "known", device_ids=frozenset({7}))], at(6), None, id="silence-expired"),
        pytest.param([], [Silence(at(5), "s", site_codes=frozenset({"FX-EP-001"}))], at(0), "silenced: s", id="silence-site"),
    ],
)
def test_suppression(windows: list[MaintenanceWindow], silences: list[Silence], now: datetime, reason: str | None) -> None:
    assert suppression_reason(SCOPE, windows, silences, now) == reason
