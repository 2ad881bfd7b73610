"""Report facts against a real database: simulated incidents in the example district, checked against their data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.facts import gather

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


@pytest.fixture
def district(db: psycopg.Connection) -> psycopg.Connection:
    ensure_registry(db)
    db.commit()
    return db


def _data_peak(conn: psycopg.Connection, alert_id: int) -> tuple[float, datetime]:
    row = conn.execute(
        "SELECT r.value, r.time FROM readings r JOIN alerts a ON a.device_id = r.device_id AND a.pollutant = r.pollutant"
        " WHERE a.id = %s AND r.flag = 'N' AND r.time >= a.first_breach_at"
        " AND r.time <= coalesce(a.resolved_at, %s) ORDER BY r.value DESC LIMIT 1",
        (alert_id, NOW),
    ).fetchone()
    assert row is not None
    return float(row[0]), row[1]


@pytest.mark.parametrize(
    ("scenario", "limit_mg_l", "source_part"),
    [
        pytest.param(Scenario(), 0.1, "GB 21900-2008 表3", id="crvi-electroplating-table3"),
        pytest.param(
            Scenario(mn="310120EP003W01", peak=0.12), 0.05, "排污许可证", id="crvi-device-permit-override"
        ),
        pytest.param(
            Scenario(mn="310120EP007W01", pollutant="w20121", peak=0.21),
            0.05,
            "沪奉环改字〔2026〕12号",
            id="nickel-temporary-limit-in-force",
        ),
        pytest.param(
            Scenario(mn="310120PB001W01", pollutant="w20120", peak=1.7, resolved_hours_ago=0.5),
            0.5,
            "GB 30484-2013",
            id="lead-battery-resolved",
        ),
    ],
)
def test_facts_match_the_data(
    district: psycopg.Connection, scenario: Scenario, limit_mg_l: float, source_part: str
) -> None:
    alert_id = build_incident(district, scenario, now=NOW)
    facts = gather(district, alert_id, now=NOW)
    peak, peak_at = _data_peak(district, alert_id)
    assert facts.event.peak_value == pytest.approx(scenario.peak)
    assert (facts.event.peak_value, facts.event.peak_at) == (pytest.approx(peak), peak_at)
    assert facts.limit is not None and facts.limit.upper == pytest.approx(limit_mg_l)
    assert source_part in facts.limit.source
    assert facts.event.exceedance_multiple == pytest.approx((scenario.peak - limit_mg_l) / limit_mg_l)
    assert facts.event.value_to_limit == pytest.approx(scenario.peak / limit_mg_l)
    end = facts.event.resolved_at or NOW
    assert facts.event.duration_seconds == pytest.approx((end - facts.event.first_breach_at).total_seconds())
    assert facts.pollutant.unit == "mg/L"


def test_first_breach_is_the_first_valid_value_over_the_limit(district: psycopg.Connection) -> None:
    alert_id = build_incident(district, Scenario(), now=NOW)
    facts = gather(district, alert_id, now=NOW)
    first = district.execute(
        "SELECT min(time) FROM readings WHERE device_id = %s AND pollutant = 'w20117' AND value > 0.1 AND flag = 'N'",
        (facts.device.device_id,),
    ).fetchone()
    assert first is not None and facts.event.first_breach_at == first[0]


def test_quality_counts_the_gap_and_the_calibration_flags(district: psycopg.Connection) -> None:
    scenario = Scenario()
    alert_id = build_incident(district, scenario, now=NOW)
    quality = gather(district, alert_id, now=NOW).quality
    expected = 7 * 86400 // scenario.interval_seconds
    assert quality.expected == expected
    missing = expected - quality.received
    # The one-hour transmission gap loses 120 samples (give or take the window's edge).
    assert 119 <= missing <= 121
    flags = dict(quality.flag_counts)
    assert flags["C"] == quality.received - quality.valid
    assert 7 * 20 - 20 <= flags["C"] <= 8 * 20  # 10 minutes of calibration a day at 30 s
    assert quality.transmission_rate == pytest.approx(quality.received / expected)
    assert len(quality.days) == 8  # seven days back from 14:00 local touch eight local dates


def test_context_lists_co_measured_parameters_history_messages_and_checks(district: psycopg.Connection) -> None:
    alert_id = build_incident(district, Scenario(), now=NOW)
    facts = gather(district, alert_id, now=NOW)
    assert {s.pollutant.code for s in facts.co_series} == {
        "w20116", "w20121", "w20122", "w20123", "w20115", "w01001", "w01018", "w00000",
    }
    assert [a.disposition for a in facts.earlier_alerts] == ["device_fault", "confirmed"]
    assert [n.reason for n in facts.notifications] == ["new", "escalation"]  # the codes the sender stores
    assert [e.to_state for e in facts.event_log] == ["open", "escalated"]
    assert any("ORP" in c.text_en for c in facts.checks)
    assert any(c.reference == "HJ 212-2017 CN 3015" for c in facts.checks)
    assert facts.plant.enforcement_notes is None or isinstance(facts.plant.enforcement_notes, str)
    assert facts.plant.permit_number == "91310120700547736C001P"
    over = [h for h in facts.hours if h.over_limit]
    assert over and all(h.valid and h.interval.mean is not None and h.interval.mean > 0.1 for h in over)
    assert facts.window_end == NOW and facts.window_start <= facts.event.first_breach_at - timedelta(hours=1)


def test_gas_alarm_report_draws_both_alarm_levels(district: psycopg.Connection) -> None:
    from zoneinfo import ZoneInfo

    from alerts.reports.render_html import render_html
    from alerts.reports.render_pdf import render_pdf

    scenario = Scenario(mn="310120CH001S01", pollutant="s01001", peak=38.0, rule="gas", interval_seconds=5, days=2)
    alert_id = build_incident(district, scenario, now=NOW)
    facts = gather(district, alert_id, now=NOW)
    assert facts.limit is not None and facts.limit.scheme == "gas_alarm" and "50493" in facts.limit.source
    assert facts.event.peak_value == pytest.approx(38.0) and facts.pollutant.unit == "%LEL"
    html = render_html(facts, locale="en", zone=ZoneInfo("Asia/Shanghai"))
    assert "Level 1 alarm 25" in html and "Level 2 alarm 50" in html
    assert "Warning line" not in html  # a gas alarm's first tier is its level 1 set point, not a pre-warning
    assert render_pdf(html).startswith(b"%PDF-")


def test_device_alert_without_a_pollutant_still_reports(district: psycopg.Connection) -> None:
    from zoneinfo import ZoneInfo

    from alerts.reports.render_html import render_html

    build_incident(district, Scenario(), now=NOW)
    row = district.execute(
        "INSERT INTO alerts (code, device_id, pollutant, rule, category, severity, state, opened_at, first_breach_at)"
        " SELECT 'SILENT1', id, '*', 'silent', 'device', 'fault', 'open', %s, %s FROM devices"
        " WHERE mn = '310120EP001W01' RETURNING id",
        (NOW - timedelta(minutes=20), NOW - timedelta(minutes=30)),
    ).fetchone()
    district.commit()
    assert row is not None
    facts = gather(district, row[0], now=NOW)
    assert facts.limit is None and facts.event.exceedance_multiple is None and facts.series.points == ()
    assert any("reagent" in c.text_en for c in facts.checks)
    assert "SILENT1" in render_html(facts, locale="zh-CN", zone=ZoneInfo("Asia/Shanghai"))


def test_a_corrected_flue_gas_report_shows_measured_o2_and_corrected_hourly_means(district: psycopg.Connection) -> None:
    from zoneinfo import ZoneInfo

    from alerts.reports.render_html import render_html

    extra = {"a21026": 40.0, "a21026z": 60.0, "a19001": 10.0, "a21002": 80.0, "a21002z": 120.0, "a34013": 5.0,
             "a34013z": 8.0, "a01012": 120.0, "a00000": 12.0}
    scenario = Scenario(mn="310120CH011G01", pollutant="a21026z", peak=160.0, extra=extra, earlier=False)
    alert_id = build_incident(district, scenario, now=NOW)
    facts = gather(district, alert_id, now=NOW)
    assert facts.limit is not None and facts.limit.upper == pytest.approx(100.0)
    hour = facts.hours[-2]
    expected = district.execute(
        "SELECT avg(value) FILTER (WHERE pollutant = 'a21026' AND flag = 'N'),"
        " avg(value) FILTER (WHERE pollutant = 'a19001' AND flag = 'N') FROM readings r"
        " JOIN devices d ON d.id = r.device_id WHERE d.mn = '310120CH011G01' AND time >= %s AND time < %s",
        (hour.hour_start, hour.hour_start + timedelta(hours=1)),
    ).fetchone()
    assert expected is not None
    assert (hour.measured_mean, hour.o2_mean) == (pytest.approx(expected[0]), pytest.approx(expected[1]))
    for locale, words in (("zh-CN", ("实测均值", "含氧量 %", "折算均值")), ("en", ("Measured mean", "O2 %", "Corrected mean"))):
        html = render_html(facts, locale=locale, zone=ZoneInfo("Asia/Shanghai"))
        assert all(w in html for w in words)
    plain = gather(district, build_incident(district, Scenario(earlier=False), now=NOW), now=NOW)
    assert all(h.o2_mean is None and h.measured_mean is None for h in plain.hours)
    assert "折算均值" not in render_html(plain, locale="zh-CN", zone=ZoneInfo("Asia/Shanghai"))
