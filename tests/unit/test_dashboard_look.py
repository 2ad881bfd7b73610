"""Pure logic of what operators and inspectors see (issue 18): device health order, filters and pages,
rates from first seen, the disposition default by alert kind, the incident chart's window, map clusters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard.alert_queue import default_disposition, disposition_label
from dashboard.auth_routes import safe_next
from dashboard.device_health import (
    HealthQuery,
    matches,
    ordered,
    paginate,
    parse_health_query,
    rate_window_seconds,
)
from dashboard.incident import incident_window

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("first_seen", "expected"), [
    pytest.param(None, None, id="never-seen-no-rate"),
    pytest.param(T0 - timedelta(days=3), 3600.0, id="old-device-last-hour"),
    pytest.param(T0 - timedelta(minutes=10), 600.0, id="new-device-since-first-seen"),
    pytest.param(T0, 0.0, id="first-seen-now"),
])
def test_rates_count_from_first_seen(first_seen: datetime | None, expected: float | None) -> None:
    assert rate_window_seconds(T0, first_seen) == expected


def dev(mn: str, site: str, transmission: float | None, age: float | None = 10.0, alerts: int = 0) -> dict[str, Any]:
    return {"mn": mn, "site_code": site, "site_name_zh": site, "site_name_en": site, "point_name_zh": "排口",
            "point_name_en": "outlet", "transmission": transmission, "validity": transmission,
            "age_seconds": age, "reporting_interval_seconds": 30, "open_device_alerts": alerts}


DEVS = [dev("A1", "P-2", 0.5), dev("B1", "P-1", None, age=None), dev("C1", "P-1", 0.9, alerts=1),
        dev("D1", "P-2", 0.1, age=500.0)]


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param(HealthQuery(), ["B1", "C1", "A1", "D1"], id="default-by-plant"),
    pytest.param(HealthQuery(sort="transmission"), ["D1", "A1", "C1", "B1"], id="ascending-never-seen-last"),
    pytest.param(HealthQuery(sort="transmission", descending=True), ["C1", "A1", "D1", "B1"],
                 id="descending-never-seen-still-last"),
    pytest.param(HealthQuery(sort="transmission", group=True), ["C1", "B1", "D1", "A1"], id="grouped-by-plant"),
    pytest.param(HealthQuery(status="offline"), ["B1", "D1"], id="offline-after-three-intervals"),
    pytest.param(HealthQuery(status="alerting"), ["C1"], id="with-device-alerts"),
    pytest.param(HealthQuery(search="p-2"), ["A1", "D1"], id="search-plant-code-any-case"),
])
def test_health_order_and_filters(query: HealthQuery, expected: list[str]) -> None:
    assert [d["mn"] for d in ordered([d for d in DEVS if matches(d, query)], query)] == expected


@pytest.mark.parametrize(("n", "page", "per_page", "expected"), [
    pytest.param(0, 1, 25, (0, 1, 1), id="empty-one-page"),
    pytest.param(2000, 1, 50, (50, 1, 40), id="first-of-forty"),
    pytest.param(2000, 99, 50, (50, 40, 40), id="past-the-end-clamped"),
    pytest.param(51, 2, 50, (1, 2, 2), id="last-partial"),
])
def test_paginate(n: int, page: int, per_page: int, expected: tuple[int, int, int]) -> None:
    rows, shown, pages = paginate([{"i": i} for i in range(n)], page, per_page)
    assert (len(rows), shown, pages) == expected


@pytest.mark.parametrize("params", [
    pytest.param({"per_page": "7"}, id="odd-page-size"), pytest.param({"sort": "x"}, id="unknown-sort"),
    pytest.param({"status": "gone"}, id="unknown-status"), pytest.param({"page": "0"}, id="page-zero"),
    pytest.param({"page": "x"}, id="page-not-a-number"),
])
def test_bad_health_queries_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        parse_health_query(params)


@pytest.mark.parametrize(("category", "default", "label"), [
    pytest.param("pollution", "confirmed", "confirmed", id="pollution-confirmed-exceedance"),
    pytest.param("safety", "confirmed", "confirmed_alarm", id="gas-confirmed-alarm-not-exceedance"),
    pytest.param("device", "device_fault", "confirmed_fault", id="device-fault"),
])
def test_disposition_default_depends_on_the_alert_kind(category: str, default: str, label: str) -> None:
    assert default_disposition(category) == default
    assert disposition_label("confirmed", category) == label
    assert disposition_label("false_alarm", category) == "false_alarm"


@pytest.mark.parametrize(("resolved", "now", "expected"), [
    pytest.param(None, T0 + timedelta(minutes=5), (T0 - timedelta(hours=1), T0 + timedelta(minutes=5)), id="ongoing"),
    pytest.param(T0 + timedelta(minutes=10), T0 + timedelta(days=1),
                 (T0 - timedelta(hours=1), T0 + timedelta(minutes=70)), id="ended-hour-after"),
    pytest.param(T0 + timedelta(minutes=10), T0 + timedelta(minutes=20),
                 (T0 - timedelta(hours=1), T0 + timedelta(minutes=20)), id="ended-recently-up-to-now"),
])
def test_incident_window(resolved: datetime | None, now: datetime, expected: tuple[datetime, datetime]) -> None:
    assert incident_window(T0, resolved, now) == expected


@pytest.mark.parametrize(("wanted", "expected"), [
    pytest.param("/alerts/7", "/alerts/7", id="own-page"),
    pytest.param("/health?sort=validity&dir=desc", "/health?sort=validity&dir=desc", id="with-query"),
    pytest.param(None, "/", id="none"),
    pytest.param("https://evil.example/", "/", id="other-site"),
    pytest.param("//evil.example/x", "/", id="scheme-relative"),
    pytest.param("/\\evil.example", "/", id="backslash"),
    pytest.param("/alerts\n/x", "/", id="control-character"),
])
def test_after_signing_in_only_own_paths(wanted: str | None, expected: str) -> None:
    assert safe_next(wanted) == expected
