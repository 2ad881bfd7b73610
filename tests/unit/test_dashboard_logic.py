"""Dashboard pure logic: permissions, scope, cookies, rate limit, sessions, tiles, map, rates, live event scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.access import User, can, scope_clause, sees_site
from dashboard.alert_queue import QueueFilter, mask_phone, queue_conditions
from dashboard.config import DashboardConfig
from dashboard.cookies import LOOPBACK_NAME, SECURE_NAME, cookie_policy, is_loopback
from dashboard.device_health import rates
from dashboard.display import age_text, local_time
from dashboard.events import filter_event
from dashboard.overview import PlantTile, map_positions, plant_status
from dashboard.passwords import generate_password, hash_password, verify_password
from dashboard.plant import row_lines
from dashboard.ratelimit import is_login_allowed
from dashboard.sessions import session_expires_at, token_hash
from envmon.words import pick_locale, text


def user(role: str, districts: tuple[str, ...] = (), sites: tuple[str, ...] = ()) -> User:
    return User(1, role, role, role, districts, sites)  # type: ignore[arg-type]


@pytest.mark.parametrize(("role", "action", "allowed"), [
    pytest.param("viewer", "read", True, id="viewer-reads"),
    pytest.param("viewer", "alert.act", False, id="viewer-cannot-acknowledge"),
    pytest.param("operator", "alert.act", True, id="operator-acknowledges"),
    pytest.param("operator", "alert.enforce", False, id="operator-cannot-open-enforcement-case"),
    pytest.param("inspector", "alert.enforce", True, id="inspector-opens-enforcement-case"),
    pytest.param("inspector", "admin", False, id="inspector-is-not-admin"),
    pytest.param("admin", "admin", True, id="admin-administers"),
    pytest.param("nobody", "read", False, id="unknown-role-reads-nothing"),
])
def test_role_permissions(role: str, action: str, allowed: bool) -> None:
    assert can(role, action) is allowed  # type: ignore[arg-type]


@pytest.mark.parametrize(("u", "district", "site", "seen"), [
    pytest.param(user("viewer", ("t",)), "t", "T-001", True, id="district-member-sees-plant"),
    pytest.param(user("viewer", ("t",)), "u", "U-001", False, id="other-district-hidden"),
    pytest.param(user("inspector", (), ("T-001",)), "t", "T-001", True, id="listed-plant-seen"),
    pytest.param(user("inspector", (), ("T-001",)), "t", "T-002", False, id="unlisted-plant-of-same-district-hidden"),
    pytest.param(user("operator"), "t", "T-001", False, id="empty-scope-sees-nothing"),
    pytest.param(user("admin"), "u", "U-001", True, id="admin-sees-everything"),
])
def test_scope_rule(u: User, district: str, site: str, seen: bool) -> None:
    assert sees_site(u, district, site) is seen


def test_scope_clause_binds_lists_for_non_admins_and_is_true_for_admins() -> None:
    clause, params = scope_clause(user("viewer", ("t",), ("X-1",)), "s")
    assert clause == "(s.district = ANY(%(scope_districts)s) OR s.code = ANY(%(scope_sites)s))"
    assert params == {"scope_districts": ["t"], "scope_sites": ["X-1"]}
    assert scope_clause(user("admin"), "s") == ("TRUE", {})


@pytest.mark.parametrize(("scheme", "host", "allow", "expected"), [
    pytest.param("https", "envmon.example", True, (SECURE_NAME, True), id="https-gets-host-prefixed-secure-cookie"),
    pytest.param("https", "127.0.0.1", True, (SECURE_NAME, True), id="https-on-loopback-still-secure"),
    pytest.param("http", "127.0.0.1", True, (LOOPBACK_NAME, False), id="http-loopback-plain-cookie"),
    pytest.param("http", "localhost", True, (LOOPBACK_NAME, False), id="http-localhost-plain-cookie"),
    pytest.param("http", "::1", True, (LOOPBACK_NAME, False), id="http-ipv6-loopback"),
    pytest.param("http", "127.0.0.1", False, None, id="http-loopback-refused-when-disallowed"),
    pytest.param("http", "envmon.example", True, None, id="http-elsewhere-gets-no-session"),
    pytest.param("http", "10.0.0.5", True, None, id="http-lan-address-gets-no-session"),
])
def test_cookie_policy(scheme: str, host: str, allow: bool, expected: tuple[str, bool] | None) -> None:
    policy = cookie_policy(scheme, host, allow_http_on_loopback=allow)
    assert (None if policy is None else (policy.name, policy.secure)) == expected


def test_is_loopback_rejects_names_that_only_look_local() -> None:
    assert not is_loopback("localhost.evil.example")
    assert not is_loopback("127.0.0.1.nip.io")


@pytest.mark.parametrize(("user_failures", "client_failures", "allowed"), [
    pytest.param(0, 0, True, id="fresh"),
    pytest.param(4, 4, True, id="under-both-limits"),
    pytest.param(5, 0, False, id="username-limit-reached"),
    pytest.param(0, 20, False, id="client-limit-reached-spraying-usernames"),
])
def test_login_rate_limit(user_failures: int, client_failures: int, allowed: bool) -> None:
    assert is_login_allowed(user_failures, client_failures, DashboardConfig()) is allowed


T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("last_seen", "expected"), [
    pytest.param(T0, T0 + timedelta(hours=12), id="idle-timeout-from-login"),
    pytest.param(T0 + timedelta(days=2), T0 + timedelta(days=2, hours=12), id="activity-extends"),
    pytest.param(T0 + timedelta(days=6, hours=20), T0 + timedelta(days=7), id="absolute-lifetime-caps"),
])
def test_session_expiry(last_seen: datetime, expected: datetime) -> None:
    assert session_expires_at(T0, last_seen, DashboardConfig()) == expected


def test_session_tokens_are_stored_hashed() -> None:
    assert token_hash("abc") != token_hash("abd")
    assert len(token_hash("abc")) == 32


def test_passwords_are_argon2id_and_verify_only_the_right_one() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse batterY")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("not a hash", "x")
    assert len(generate_password()) >= 20
    with pytest.raises(ValueError):
        hash_password("short")


@pytest.mark.parametrize(("severities", "offline", "status"), [
    pytest.param(set(), 0, "ok", id="quiet"),
    pytest.param(set(), 1, "fault", id="offline-device"),
    pytest.param({"fault"}, 0, "fault", id="device-alert"),
    pytest.param({"warning", "fault"}, 2, "warning", id="warning-beats-fault"),
    pytest.param({"warning", "exceedance"}, 0, "alarm", id="exceedance-beats-warning"),
    pytest.param({"level1"}, 0, "alarm", id="gas-alarm"),
])
def test_plant_tile_status(severities: set[str], offline: int, status: str) -> None:
    assert plant_status(severities, offline) == status


def tile(code: str, lat: float | None, lon: float | None) -> PlantTile:
    return PlantTile(code, code, code, "t", "x", lat, lon, 1, 0, 0, "ok")


def test_map_puts_north_up_and_east_right_inside_margins() -> None:
    pos = map_positions([tile("W", 30.9, 121.4), tile("E", 30.9, 121.6), tile("N", 31.0, 121.5), tile("X", None, None)],
                        width=900, height=560, margin=40)
    assert set(pos) == {"W", "E", "N"}
    assert pos["W"][0] < pos["N"][0] < pos["E"][0]
    assert pos["N"][1] < pos["W"][1]
    assert all(40 <= x <= 860 and 40 <= y <= 520 for x, y in pos.values())


@pytest.mark.parametrize(("samples", "valid", "pollutants", "interval", "expected"), [
    pytest.param(360, 360, 3, 30, (1.0, 1.0), id="all-arrived-all-valid"),
    pytest.param(180, 90, 3, 30, (0.5, 0.5), id="half-arrived-half-valid"),
    pytest.param(0, 0, 3, 30, (0.0, 0.0), id="silent"),
    pytest.param(400, 400, 3, 30, (1.0, 1.0), id="resends-do-not-exceed-100-percent"),
])
def test_transmission_and_validity_rates(samples: int, valid: int, pollutants: int, interval: int,
                                         expected: tuple[float, float]) -> None:
    assert rates(samples, valid, pollutants, interval, 3600) == expected


DEVICES = {1: ("t", "T-001"), 2: ("t", "T-002"), 3: ("u", "U-001")}


@pytest.mark.parametrize(("event", "u", "shown"), [
    pytest.param({"kind": "alert", "id": 9, "device_id": 1}, user("viewer", ("t",)),
                 {"kind": "alert", "id": 9, "device_id": 1, "site": "T-001"}, id="alert-in-scope-with-site"),
    pytest.param({"kind": "alert", "id": 9, "device_id": 3}, user("viewer", ("t",)), None, id="alert-elsewhere-hidden"),
    pytest.param({"kind": "alert", "id": 9, "device_id": 99}, user("admin"), None, id="unknown-device-hidden"),
    pytest.param({"kind": "readings", "devices": [1, 2, 3]}, user("inspector", (), ("T-001",)),
                 {"kind": "readings", "devices": [1], "sites": ["T-001"]}, id="readings-cut-to-scope"),
    pytest.param({"kind": "readings", "devices": None}, user("viewer", ("u",)),
                 {"kind": "readings", "devices": [3], "sites": ["U-001"]}, id="unlisted-readings-mean-all"),
    pytest.param({"kind": "readings", "devices": [3]}, user("viewer", ("t",)), None, id="readings-elsewhere-hidden"),
    pytest.param({"kind": "other"}, user("admin"), None, id="unknown-kind-dropped"),
])
def test_live_events_are_scoped(event: dict[str, object], u: User, shown: dict[str, object] | None) -> None:
    assert filter_event(event, u, DEVICES) == shown


@pytest.mark.parametrize(("f", "sql", "params"), [
    pytest.param(QueueFilter(), ["a.state IN ('open', 'escalated', 'acknowledged')"], {}, id="active-by-default"),
    pytest.param(QueueFilter(state=None), [], {}, id="any-state"),
    pytest.param(QueueFilter(state="closed", severity="severe", district="t", site="T-001"),
                 ["a.state = %(state)s", "a.severity = %(severity)s", "s.district = %(district)s", "s.code = %(site)s"],
                 {"state": "closed", "severity": "severe", "district": "t", "site": "T-001"}, id="every-filter-bound"),
])
def test_queue_filters_are_bound_parameters(f: QueueFilter, sql: list[str], params: dict[str, object]) -> None:
    assert queue_conditions(f) == (sql, params)


def _limit_row(scheme: str | None, direction: str = "upper", lower: float | None = None, upper: float | None = None,
               ratio: float | None = None, level2_upper: float | None = None) -> dict[str, object]:
    return {"scheme": scheme, "direction": direction, "lower_value": lower, "upper_value": upper,
            "warning_ratio": ratio, "level2_lower_value": None, "level2_upper_value": level2_upper}


@pytest.mark.parametrize(("row", "expected"), [
    pytest.param(_limit_row("discharge", upper=0.1, ratio=0.8), [("warning", 0.08), ("limit", 0.1)],
                 id="warning-at-ratio-without-float-artefact"),
    pytest.param(_limit_row("discharge", upper=0.1), [("limit", 0.1)], id="no-ratio-no-warning-line-as-the-engine"),
    pytest.param(_limit_row("discharge", "range", 6.0, 9.0, 0.8), [("limit", 9.0), ("limit", 6.0)],
                 id="ph-range-no-warning-line"),
    pytest.param(_limit_row("gas_alarm", upper=25.0, level2_upper=50.0), [("level1", 25.0), ("level2", 50.0)],
                 id="combustible-level1-at-25-not-20-and-level2-shown"),
    pytest.param(_limit_row("gas_alarm", "range", 19.5, 23.5), [("level1", 23.5), ("level1", 19.5)],
                 id="oxygen-both-set-points"),
    pytest.param(_limit_row(None), [], id="no-limit"),
])
def test_plant_chart_lines_come_from_the_registry_tiers(row: dict[str, object], expected: list[object]) -> None:
    assert [(line.kind, line.value) for line in row_lines(row)] == expected


def test_text_in_both_languages_and_local_time() -> None:
    assert text("zh-CN", "page.acknowledge") == "确认"
    assert text("en", "page.acknowledge") == "Acknowledge"
    assert text("en", "no-such-key") == "no-such-key"
    assert pick_locale("fr", "zh-CN") == "zh-CN"
    assert local_time(datetime(2026, 11, 22, 16, 30, tzinfo=UTC), ZoneInfo("Asia/Shanghai")) == "2026-11-23 00:30:00"
    assert age_text(125, "en") == "2 min"
    assert age_text(7300, "zh-CN") == "2 小时"
    assert age_text(None, "en") == "never"


@pytest.mark.parametrize(("phone", "masked"), [
    pytest.param("+8613900000001", "+86*******0001", id="mobile"),
    pytest.param("+493012", "*******", id="too-short-to-show-anything"),
])
def test_viewers_see_masked_phone_numbers(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_the_dashboard_takes_its_options_from_the_settings_and_the_command_line_wins() -> None:
    from dashboard.config import DashboardConfig
    from envmon.settings import load_settings

    settings = load_settings(environment="test", dashboard_port=9999, dashboard_login_window_seconds=60)
    config = DashboardConfig.from_settings(settings, host="0.0.0.0", port=None)
    assert (config.host, config.port, config.login_window_seconds) == ("0.0.0.0", 9999, 60)
