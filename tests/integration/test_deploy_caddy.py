"""deploy/caddy/Caddyfile on a real Caddy, in front of the real dashboard server: HTTPS and forwarded headers.

The Caddyfile runs as shipped; the test only adds global options that keep Caddy on loopback test
ports with its own local CA (no ACME, no port 80). Behind it: the dashboard as `envmon dashboard`
serves it (DashboardService: uvicorn trusting X-Forwarded-* only from the proxy address the
deployment sets), and a small recording server in place of the alert service's webhook endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML comes with schemathesis (dev extras)

from alerts.notify.callbacks import STATUS_CALLBACK_PATH
from dashboard.config import DashboardConfig
from dashboard.cookies import SECURE_NAME
from dashboard.service import DashboardService
from dashboard.users import create_user
from envmon.settings import load_settings
from envmon.stack.processes import free_port, wait_for_port
from tests.conftest import ROOT, make_state_dir
from tests.patience import patience

CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
PASSWORD = "a long enough test password"
FORGED_CLIENT = "203.0.113.9"


def caddy_test_options(https_port: int, storage: Path) -> str:
    """Global options that keep a test Caddy on loopback, on a free port, with a local CA of its own."""
    return (f"\thttps_port {https_port}\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n"
            f"\tauto_https disable_redirects\n\tdefault_bind 127.0.0.1\n\tstorage file_system {storage}\n")


def adapt_caddyfile(text: str, https_port: int, storage: Path) -> str:
    """The shipped Caddyfile with the test options added to its global options block."""
    assert text.count("\n{\n") == 1, "the Caddyfile has one global options block"
    return text.replace("\n{\n", "\n{\n" + caddy_test_options(https_port, storage), 1)


def is_tls_ready(port: int, ca_file: Path) -> bool:
    """True when a TLS handshake for localhost on the port succeeds against the CA."""
    if not ca_file.exists():
        return False
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, context.wrap_socket(
            raw, server_hostname="localhost"
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


@dataclass
class Recorder:
    """A stand-in upstream that records each request's path and headers and answers 204."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def serve(self, port: int) -> ThreadingHTTPServer:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@dataclass(frozen=True)
class Proxied:
    """Caddy on https://localhost:<port> in front of the dashboard and the recorder."""

    base_url: str
    ca_file: Path
    recorder: Recorder
    database_url: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, verify=ssl.create_default_context(cafile=self.ca_file), timeout=10)


@pytest.fixture
def dashboard_url(database_url: str) -> Iterator[str]:
    """The dashboard served as `envmon dashboard` does, on a free loopback port, with one admin."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_user(conn, username="admin", role="admin", password=PASSWORD, actor="test", now=datetime.now(UTC))
    # The proxy address the deployment trusts (deploy/compose.yaml, checked against the systemd unit).
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    trusted = compose["services"]["dashboard"]["environment"]["ENVMON_DASHBOARD_TRUSTED_PROXIES"]
    settings = load_settings(environment="test", database_url=database_url, secret_key="s" * 48,
                             state_dir=make_state_dir("envmon-caddy-test-"), dashboard_trusted_proxies=trusted)
    port = free_port()
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(DashboardService(settings, DashboardConfig.from_settings(settings, port=port)).run(stop),),
        daemon=True,
    )
    thread.start()
    try:
        assert wait_for_port(port, timeout_seconds=15), "dashboard did not start"
        yield f"127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        shutil.rmtree(settings.state_dir, ignore_errors=True)


@pytest.fixture
def proxied(dashboard_url: str, database_url: str) -> Iterator[Proxied]:
    root = make_state_dir("envmon-caddy-")
    https_port, alerts_port = free_port(), free_port()
    recorder = Recorder()
    alerts = recorder.serve(alerts_port)
    config = root / "Caddyfile"
    config.write_text(adapt_caddyfile(CADDYFILE.read_text(), https_port, root / "storage"))
    env = {**os.environ, "HOME": str(root), "XDG_DATA_HOME": str(root / "data"), "XDG_CONFIG_HOME": str(root / "cfg"),
           "PUBLIC_HOST": "localhost", "ACME_EMAIL": "ops@example.org",
           "DASHBOARD_UPSTREAM": dashboard_url, "ALERTS_UPSTREAM": f"127.0.0.1:{alerts_port}"}
    caddy = shutil.which("caddy")
    assert caddy is not None, "Caddy is installed by scripts/bootstrap (Debian package caddy)"
    with (root / "caddy.log").open("wb") as log:
        proc = subprocess.Popen([caddy, "run", "--config", str(config), "--adapter", "caddyfile"],  # noqa: S603
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ca_file = root / "storage" / "pki" / "authorities" / "local" / "root.crt"
        # Caddy listens before it has issued and loaded the site's certificate: wait for a handshake.
        deadline = time.monotonic() + patience(30)
        while not is_tls_ready(https_port, ca_file) and time.monotonic() < deadline:
            assert proc.poll() is None, (root / "caddy.log").read_text()
            time.sleep(0.1)
        assert is_tls_ready(https_port, ca_file), (root / "caddy.log").read_text()
        yield Proxied(f"https://localhost:{https_port}", ca_file, recorder, database_url)
    finally:
        proc.terminate()
        proc.wait(15)
        alerts.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def _login(client: httpx.Client, base_url: str) -> httpx.Response:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
    return client.post("/login", data={"username": "admin", "password": PASSWORD, "login_csrf": token},
                       headers={"Origin": base_url, "X-Forwarded-For": FORGED_CLIENT, "X-Forwarded-Proto": "http"})


def test_dashboard_behind_the_proxy_sees_https_and_sets_the_secure_host_cookie(proxied: Proxied) -> None:
    with proxied.client() as client:
        response = _login(client, proxied.base_url)
        assert response.status_code == 303, response.text
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SECURE_NAME}=") and "secure" in cookie.lower()
        assert client.get("/api/me").status_code == 200  # the session works over the proxy


def test_dashboard_records_the_proxys_client_address_not_a_forged_one(proxied: Proxied) -> None:
    with proxied.client() as client:
        assert _login(client, proxied.base_url).status_code == 303
    with psycopg.connect(proxied.database_url) as conn:
        clients = [r[0] for r in conn.execute("SELECT client FROM login_attempts")]
    assert clients == ["127.0.0.1"]


def test_twilio_callbacks_reach_the_alert_service_with_the_public_host_and_scheme(proxied: Proxied) -> None:
    with proxied.client() as client:
        response = client.post(STATUS_CALLBACK_PATH, data={"MessageSid": "SM1", "MessageStatus": "delivered"},
                               headers={"X-Twilio-Signature": "sig", "X-Forwarded-Proto": "http"})
        assert response.status_code == 204
        assert client.post("/login", data={}).status_code == 403  # the dashboard's answer: no login CSRF cookie
    [(path, headers)] = proxied.recorder.requests
    assert path == STATUS_CALLBACK_PATH
    assert headers["host"] == proxied.base_url.removeprefix("https://")
    assert (headers["x-forwarded-proto"], headers["x-twilio-signature"]) == ("https", "sig")


def test_live_events_are_proxied_to_the_dashboard(proxied: Proxied) -> None:
    with proxied.client() as client:
        response = client.get("/api/events")
    assert response.status_code in (401, 403)  # the dashboard's answer without a session, not the proxy's 502
    assert json.loads(response.text)
