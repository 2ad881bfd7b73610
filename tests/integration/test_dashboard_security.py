"""Dashboard security against the real database: cookies, CSRF, rate limiting, session life, users."""

from __future__ import annotations

import argparse
import io

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from dashboard.cli import run_user_add
from dashboard.service import create_demo_users
from tests.browser.world import PASSWORD, World, build_world, client, login, raise_alert


@pytest.fixture
def world(database_url: str) -> World:
    return build_world(database_url)


def _login_form(c: TestClient, username: str, password: str) -> httpx.Response:
    page = c.get("/login")
    token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
    return c.post("/login", data={"username": username, "password": password, "login_csrf": token},
                  follow_redirects=False)


def test_https_session_cookie_is_host_prefixed_secure_httponly_samesite(world: World) -> None:
    with client(world) as c:
        r = _login_form(c, "viewer", PASSWORD)
        cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("__Host-envmon_session="))
        flags = {f.strip().lower() for f in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= flags
        assert not any(f.startswith("domain") for f in flags)


def test_plain_http_on_loopback_uses_an_unprefixed_cookie_and_works(world: World) -> None:
    with client(world, base_url="http://127.0.0.1") as c:
        r = _login_form(c, "viewer", PASSWORD)
        cookie = next(v for v in r.headers.get_list("set-cookie") if "envmon_session=" in v)
        assert cookie.startswith("envmon_session=") and "secure" not in cookie.lower()
        assert c.get("/api/me").json()["username"] == "viewer"


def test_plain_http_elsewhere_gets_no_session(world: World) -> None:
    with client(world, base_url="http://envmon.example") as c:
        r = _login_form(c, "viewer", PASSWORD)
        assert r.status_code == 400
        assert not any("envmon_session" in v for v in r.headers.get_list("set-cookie"))


def test_wrong_password_is_refused_and_repeated_failures_are_rate_limited(world: World) -> None:
    with client(world) as c:
        for _ in range(5):
            assert _login_form(c, "operator", "wrong password!").status_code == 401
        assert _login_form(c, "operator", PASSWORD).status_code == 429
        assert _login_form(c, "nobody", PASSWORD).status_code == 401
        assert _login_form(c, "viewer", PASSWORD).status_code == 303
    with psycopg.connect(world.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM login_attempts WHERE NOT succeeded").fetchone() == (6,)


def test_login_without_its_form_token_is_refused(world: World) -> None:
    with client(world) as c:
        c.get("/login")
        r = c.post("/login", data={"username": "viewer", "password": PASSWORD, "login_csrf": "forged"},
                   follow_redirects=False)
        assert r.status_code == 403


def test_every_state_change_needs_the_csrf_token_from_our_origin(world: World) -> None:
    alert_id = raise_alert(world)
    with client(world) as c:
        csrf = login(c, "operator")
        form = {"disposition": "confirmed"}
        assert c.post(f"/alerts/{alert_id}/acknowledge", data=form, follow_redirects=False).status_code == 403
        assert c.post(f"/alerts/{alert_id}/acknowledge", data={**form, "csrf_token": "x" * 43},
                      follow_redirects=False).status_code == 403
        assert c.post(f"/api/alerts/{alert_id}/acknowledge", json=form).status_code == 403
        evil = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
        assert c.post(f"/api/alerts/{alert_id}/acknowledge", json=form, headers=evil).status_code == 403
        assert c.post("/logout", follow_redirects=False).status_code == 403
        with psycopg.connect(world.database_url) as conn:
            assert conn.execute("SELECT state FROM alerts WHERE id = %s", (alert_id,)).fetchone() == ("open",)
        ok = c.post(f"/api/alerts/{alert_id}/acknowledge", json=form,
                    headers={"X-CSRF-Token": csrf, "Origin": "https://testserver"})
        assert ok.status_code == 200 and ok.json()["state"] == "acknowledged"


def test_logout_ends_the_session_on_the_server(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "viewer")
        token = c.cookies.get("__Host-envmon_session")
        assert token
        assert c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
        c.cookies.set("__Host-envmon_session", token)
        assert c.get("/api/me").status_code == 401


def test_sessions_are_stored_hashed_and_expire(world: World) -> None:
    with client(world) as c:
        login(c, "viewer")
        token = c.cookies.get("__Host-envmon_session")
        with psycopg.connect(world.database_url, autocommit=True) as conn:
            stored = conn.execute("SELECT token_hash FROM dashboard_sessions").fetchone()
            assert stored is not None and token is not None and token.encode() not in bytes(stored[0])
            conn.execute("UPDATE dashboard_sessions SET expires_at = now() - interval '1 second'")
        assert c.get("/api/me").status_code == 401


def test_disabling_a_user_ends_their_sessions(world: World) -> None:
    with client(world) as admin, client(world) as viewer:
        csrf = login(admin, "admin")
        login(viewer, "viewer")
        with psycopg.connect(world.database_url) as conn:
            viewer_id = conn.execute("SELECT id FROM users WHERE username = 'viewer'").fetchone()[0]  # type: ignore[index]
        admin.post(f"/admin/users/{viewer_id}/disable", data={"csrf_token": csrf})
        assert viewer.get("/api/me").status_code == 401
        assert _login_form(viewer, "viewer", PASSWORD).status_code == 401


def test_language_switch_changes_the_pages_and_stays_on_site(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "viewer")
        assert "告警" in c.get("/alerts").text
        r = c.post("/locale", data={"csrf_token": csrf, "locale": "en", "back": "//evil.example/x"},
                   follow_redirects=False)
        assert r.headers["location"] == "/"
        page = c.get("/alerts")
        assert "Alerts" in page.text and 'lang="en"' in page.text


def test_pages_carry_a_strict_content_security_policy(world: World) -> None:
    with client(world) as c:
        login(c, "viewer")
        csp = c.get("/").headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_user_add_command_prints_a_generated_password_that_signs_in(world: World, capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    args = argparse.Namespace(username="chief", role="admin", district=[], site=[], display_name=None,
                              password_stdin=False)
    assert run_user_add(args, world.settings) == 0
    password = capsys.readouterr().out.split("password: ")[1].strip()
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    args2 = argparse.Namespace(username="duty", role="operator", district=["t"], site=[], display_name="Duty",
                               password_stdin=True)
    assert run_user_add(args2, world.settings) == 0
    assert "password:" not in capsys.readouterr().out
    with client(world) as c:
        assert _login_form(c, "chief", password).status_code == 303
    with client(world) as c:
        assert _login_form(c, "duty", "another long password").status_code == 303
        assert c.get("/api/me").json()["districts"] == ["t"]
    from envmon.errors import EnvmonError

    with pytest.raises(EnvmonError, match="exists"):
        run_user_add(args, world.settings)


def test_demo_users_one_per_role_sign_in(world: World) -> None:
    made = create_demo_users(world.settings, districts=("t",))
    assert [role for _, role, _ in made] == ["viewer", "operator", "inspector", "admin"]
    again = create_demo_users(world.settings, districts=("t",))  # a second demo start replaces them
    for username, role, password in again:
        with client(world) as c:
            assert _login_form(c, username, password).status_code == 303
            assert c.get("/api/me").json()["role"] == role


def test_audit_log_records_user_creation(world: World) -> None:
    with client(world) as c:
        csrf = login(c, "admin")
        page = c.post("/admin/users", data={"csrf_token": csrf, "username": "newbie", "role": "viewer",
                                            "districts": "t"})
        assert page.status_code == 200 and 'id="issued-secret"' in page.text
    with psycopg.connect(world.database_url) as conn:
        row = conn.execute("SELECT actor, action, detail FROM audit_log WHERE entity = 'user' AND entity_key = 'newbie'"
                           ).fetchone()
    assert row is not None and row[0] == "admin" and row[1] == "create" and row[2]["districts"] == ["t"]
