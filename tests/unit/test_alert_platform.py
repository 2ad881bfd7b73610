"""Platform faults: causes from heartbeats and district silence, one episode at a time, what it holds back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.lifecycle import AlertRecord
from alerts.model import AlertKey
from alerts.notify.escalation import RoutedAlert
from alerts.notify.render import render_platform_sms
from alerts.platform import (
    Beat,
    Cause,
    DistrictSilence,
    Episode,
    WatchdogPolicy,
    decide,
    district_causes,
    hold_back,
    service_causes,
)
from ingest.health import Vitals, judge

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
POLICY = WatchdogPolicy(services=("ingest", "alerts"), stale_seconds=30, district_silent_fraction=0.5,
                        district_min_silent_devices=3, recovery_hold_seconds=60)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def beat(service: str, seconds: float, *, ok: bool = True, role: str = "active", instance: str = "h:1",
         failing: list[str] | None = None) -> Beat:
    return Beat(service, instance, role, ok, at(seconds), {"failing": failing or []})


@pytest.mark.parametrize(
    ("beats", "expected"),
    [
        pytest.param([beat("ingest", 95), beat("alerts", 95)], [], id="both-fresh-and-healthy"),
        pytest.param([beat("ingest", 95)], [("service_down", "alerts", "no heartbeat")], id="alerts-never-beat"),
        pytest.param([beat("ingest", 95), beat("alerts", 60)], [("service_down", "alerts", "last heartbeat 40 s ago")],
                     id="alerts-stale"),
        pytest.param([beat("ingest", 95), beat("alerts", 95, ok=False, failing=["threads", "engine_lag"])],
                     [("service_unhealthy", "alerts", "engine_lag, threads")], id="alerts-unhealthy"),
        pytest.param([beat("ingest", 95), beat("alerts", 95, role="standby")],
                     [("service_down", "alerts", "no active instance")], id="only-a-standby-engine"),
        pytest.param([beat("ingest", 95), beat("alerts", 20, instance="h:1"), beat("alerts", 95, instance="h:2")], [],
                     id="restarted-instance-fresh-old-row-stale"),
        pytest.param([beat("ingest", 95), beat("alerts:d1", 95), beat("alerts:d2", 10)],
                     [("service_down", "alerts:d2", "last heartbeat 90 s ago")], id="one-shard-down"),
    ],
)
def test_service_causes(beats: list[Beat], expected: list[tuple[str, str, str]]) -> None:
    assert [(c.kind, c.subject, c.detail) for c in service_causes(beats, POLICY, at(100))] == expected


@pytest.mark.parametrize(
    ("vitals", "detail"),
    [
        pytest.param(Vitals((), 1.0, 45.0, 10, True), "database", id="database-retried-too-long"),
        pytest.param(Vitals(("ingest-commit-1",), 40.0, None, 10, False), "mqtt, stalled, threads", id="three-checks"),
    ],
)
def test_an_unhealthy_ingest_is_named_by_the_checks_its_heartbeat_reports(vitals: Vitals, detail: str) -> None:
    ok, facts = judge(vitals)  # what ingest's heartbeat stores as its detail
    beats = [Beat("ingest", "h:1", "active", ok, at(95), facts), beat("alerts", 95)]
    assert [(c.kind, c.subject, c.detail) for c in service_causes(beats, POLICY, at(100))] == [
        ("service_unhealthy", "ingest", detail)]


@pytest.mark.parametrize(
    ("silence", "faulty"),
    [
        pytest.param(DistrictSilence("fx", 10, 20), True, id="half-silent"),
        pytest.param(DistrictSilence("fx", 9, 20), False, id="under-half"),
        pytest.param(DistrictSilence("fx", 2, 2), False, id="all-of-two-is-below-the-minimum-count"),
        pytest.param(DistrictSilence("fx", 3, 4), True, id="three-of-four"),
        pytest.param(DistrictSilence("fx", 0, 0), False, id="no-recent-devices"),
    ],
)
def test_district_causes(silence: DistrictSilence, faulty: bool) -> None:
    assert bool(district_causes([silence], POLICY)) is faulty


DOWN = Cause("service_down", "ingest", "no heartbeat")
SILENT = Cause("district_silent", "fx", "10/20")
ENGINE = Cause("service_unhealthy", "alerts", "engine_lag")


def test_a_fault_opens_once_then_updates_quietly_then_recovers_after_the_hold() -> None:
    decision, ep = decide(None, [SILENT], at(0), POLICY)
    assert decision == "open" and ep is not None and ep.districts == {"fx"} and not ep.all_districts
    ep = replace(ep, id=1)
    assert decide(ep, [SILENT], at(5), POLICY) == ("none", ep)
    decision, ep2 = decide(ep, [SILENT, DOWN], at(10), POLICY)
    assert decision == "update" and ep2 is not None and ep2.all_districts  # ingest down: every district
    decision, ep3 = decide(ep2, [], at(20), POLICY)
    assert decision == "calm" and ep3 is not None and ep3.calm_since == at(20)
    assert decide(ep3, [], at(79), POLICY)[0] == "none"
    decision, ep4 = decide(ep3, [SILENT], at(50), POLICY)
    assert decision == "update" and ep4 is not None and ep4.calm_since is None  # not calm after all
    decision, done = decide(ep3, [], at(80), POLICY)
    assert decision == "recover" and done is not None and done.resolved_at == at(80)


def test_no_cause_no_fault_and_an_unhealthy_engine_holds_nothing_back() -> None:
    assert decide(None, [], at(0), POLICY) == ("none", None)
    _, ep = decide(None, [ENGINE], at(0), POLICY)
    assert ep is not None and not ep.all_districts and not ep.districts


def routed(rule: str, suppressed_by: str | None = None) -> RoutedAlert:
    record = AlertRecord(id=1, code="X", key=AlertKey(1, "*", rule), category="device", severity="fault",
                         state="open", opened_at=T0, first_breach_at=T0, unacknowledged_since=T0)
    return RoutedAlert(record, "S1", (), suppressed_by)


FAULT = Episode(1, T0, (SILENT,), frozenset({"fx"}))


@pytest.mark.parametrize(
    ("alert", "district", "fault", "reason"),
    [
        pytest.param(routed("silent"), "fx", FAULT, "platform_fault", id="silent-device-in-faulty-district"),
        pytest.param(routed("seq_gap"), "fx", FAULT, "platform_fault", id="data-missing-in-faulty-district"),
        pytest.param(routed("silent"), "other", FAULT, None, id="other-district"),
        pytest.param(routed("silent"), "other", replace(FAULT, all_districts=True), "platform_fault",
                     id="ingest-down-everywhere"),
        pytest.param(routed("instant"), "fx", FAULT, None, id="pollution-alerts-still-go"),
        pytest.param(routed("silent"), "fx", None, None, id="no-fault"),
        pytest.param(routed("silent"), "fx", replace(FAULT, resolved_at=at(5)), None, id="fault-over"),
        pytest.param(routed("silent", "maintenance: 校准"), "fx", FAULT, "maintenance: 校准", id="maintenance-kept"),
    ],
)
def test_hold_back(alert: RoutedAlert, district: str, fault: Episode | None, reason: str | None) -> None:
    assert hold_back(alert, district, fault).suppressed_by == reason


@pytest.mark.parametrize(
    ("locale", "recovered", "expected"),
    [
        pytest.param("en", False, "[PLATFORM FAULT] envmon is not watching: district fx: 10/20 devices silent at once; "
                     "per-device no-data alerts to inspectors are held back; since 22 Nov 14:00", id="fault-en"),
        pytest.param("zh-CN", False, "【平台故障】envmon 监控中断:fx 区 10/20 台设备同时中断;各设备的数据中断告警暂不发给检查人员;"
                     "自 11-22 14:00", id="fault-zh"),
        pytest.param("en", True, "[RECOVERED] envmon is watching again: fault lasted 12 min; since 22 Nov 14:00",
                     id="recovered-en"),
    ],
)
def test_render_platform_sms(locale: str, recovered: bool, expected: str) -> None:
    text = render_platform_sms([("district_silent", "fx", "10/20")], recovered=recovered, opened_at=T0,
                               now=at(720), held_back=True, locale=locale,  # type: ignore[arg-type]
                               zone=ZoneInfo("Asia/Shanghai"))
    assert text == expected
