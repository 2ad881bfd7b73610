"""The deployment files (deploy/) checked without Docker: structure, commands, settings, secrets, units.

Docker is not available here, so the compose file is read as YAML and held to what envmon needs; the
systemd units go through `systemd-analyze verify`; every command they run is parsed by envmon's CLI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML comes with schemathesis (dev extras)

from alerts.notify.callbacks import INBOUND_SMS_PATH, STATUS_CALLBACK_PATH
from envmon.errors import ConfigError
from envmon.settings import Settings, load_settings
from envmon_app.cli import build_parser
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
ENVMON_SERVICES = ("migrate", "ingest", "alerts", "watchdog", "dashboard")
UNITS = ("envmon-migrate", "envmon-ingest", "envmon-alerts", "envmon-watchdog", "envmon-dashboard")
# Variables envmon reads that are not fields of Settings.
NON_FIELD_VARIABLES = {"ENVMON_CONFIG"}


def setting_variables() -> set[str]:
    """Every environment variable that sets a field of Settings."""
    return {f"ENVMON_{name.upper()}" for name in Settings.model_fields} | {"DATABASE_URL", "MQTT_URL"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an environment file, comments and blank lines left out."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def unit_entries(name: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of every setting in a unit file, in order (keys may repeat)."""
    section, entries = "", []
    for line in (DEPLOY / "systemd" / f"{name}.service").read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            entries.append((section, key, value))
    return entries


def unit_values(name: str, key: str) -> list[str]:
    return [value for _, k, value in unit_entries(name) if k == key]


def envmon_argv(exec_start: str) -> list[str]:
    """The arguments after the envmon program in an ExecStart line."""
    program, *args = exec_start.split()
    assert program.endswith("/envmon")
    return args


def test_compose_runs_every_envmon_service_from_the_project_image() -> None:
    services = compose()["services"]
    assert set(ENVMON_SERVICES) <= set(services)
    for name in ENVMON_SERVICES:
        assert services[name]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert services[name]["image"] == services["ingest"]["image"]


@pytest.mark.parametrize("service", ENVMON_SERVICES)
def test_compose_commands_are_valid_envmon_command_lines(service: str) -> None:
    command = compose()["services"][service]["command"]
    args = build_parser().parse_args(command)
    assert args.command == service


def test_services_start_only_after_the_migration_completed() -> None:
    services = compose()["services"]
    for name in ("ingest", "alerts", "dashboard"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["timescaledb"] == {"condition": "service_healthy"}


def test_timescaledb_is_2_13_or_later_with_the_extension_preloaded() -> None:
    db = compose()["services"]["timescaledb"]
    match = re.fullmatch(r"timescale/timescaledb:(\d+)\.(\d+)\.\d+-pg(\d+)", db["image"])
    assert match is not None
    assert (int(match[1]), int(match[2])) >= (2, 13) and int(match[3]) >= 15
    flags = dict(zip(db["command"][1::2], db["command"][2::2], strict=True))
    assert db["command"][0] == "postgres" and set(flags) == {"-c"}
    assert "shared_preload_libraries=timescaledb" in db["command"]
    assert "POSTGRES_PASSWORD" not in db["environment"]
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_broker_publishes_only_the_tls_port_and_mounts_the_deploy_config() -> None:
    broker = compose()["services"]["mosquitto"]
    assert re.fullmatch(r"eclipse-mosquitto:2\.\d+\.\d+", broker["image"])
    assert broker["ports"] == ["8883:8883"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in broker["volumes"]}
    assert mounts["/mosquitto/config/mosquitto.conf"] == "./mosquitto/mosquitto.conf"
    assert mounts["/mosquitto/config/acl"] == "./mosquitto/acl"
    for path in ("/mosquitto/config/passwd", "/mosquitto/certs", "/mosquitto/data"):
        assert path in mounts
    assert all((DEPLOY / src).exists() for src in mounts.values() if src.startswith("./mosquitto/"))


def test_dashboard_is_reached_only_through_the_proxy_on_loopback() -> None:
    services = compose()["services"]
    dashboard, caddy = services["dashboard"], services["caddy"]
    args = build_parser().parse_args(dashboard["command"])
    assert (args.host, args.port) == ("127.0.0.1", 8080)
    # The dashboard trusts X-Forwarded-* only from its configured proxies (none by default): here the
    # proxy shares the dashboard's loopback, and that address is the one trusted, in both deployments.
    assert dashboard["network_mode"] == "service:caddy"
    assert dashboard["environment"]["ENVMON_DASHBOARD_TRUSTED_PROXIES"] == "127.0.0.1"
    assert "ENVMON_DASHBOARD_TRUSTED_PROXIES=127.0.0.1" in unit_values("envmon-dashboard", "Environment")
    assert "ports" not in dashboard
    assert caddy["environment"]["DASHBOARD_UPSTREAM"] == f"127.0.0.1:{args.port}"
    assert {"80:80", "443:443"} <= set(caddy["ports"])


def test_proxy_reaches_the_alert_service_on_its_configured_port() -> None:
    services = compose()["services"]
    alerts_env, caddy = services["alerts"]["environment"], services["caddy"]
    assert caddy["environment"]["ALERTS_UPSTREAM"] == f"alerts:{alerts_env['ENVMON_ALERTS_HTTP_PORT']}"
    assert alerts_env["ENVMON_ALERTS_HTTP_HOST"] == "0.0.0.0"
    assert "ports" not in services["alerts"]


def test_caddy_routes_twilio_webhooks_to_alerts_and_streams_live_events_unbuffered() -> None:
    lines = (DEPLOY / "caddy" / "Caddyfile").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert STATUS_CALLBACK_PATH.startswith("/twilio/") and INBOUND_SMS_PATH.startswith("/twilio/")
    twilio = re.search(r"handle /twilio/\* \{\s*reverse_proxy \{\$ALERTS_UPSTREAM:127\.0\.0\.1:9320\}", text)
    events = re.search(r"handle /api/events \{\s*reverse_proxy \{\$DASHBOARD_UPSTREAM:[^}]+\} \{\s*flush_interval -1",
                       text)
    assert twilio is not None and events is not None
    assert text.count("{") == text.count("}")
    assert "trusted_proxies" not in text  # Caddy is the first hop: it must not believe clients' X-Forwarded-*


def test_envmon_services_get_secrets_from_a_mounted_file_not_from_the_environment() -> None:
    data = compose()
    assert data["secrets"]["envmon_config"] == {"file": "./secrets/envmon.toml"}
    secret_words = re.compile(r"password|secret|token|_url$", re.IGNORECASE)
    for name in ENVMON_SERVICES:
        service = data["services"][name]
        assert service["environment"]["ENVMON_CONFIG"] == "/run/secrets/envmon_config"
        assert "envmon_config" in service["secrets"]
        assert [k for k in service["environment"] if secret_words.search(k)] == []
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


def test_every_envmon_variable_in_the_deploy_files_is_a_setting() -> None:
    data = compose()
    names = {k for s in data["services"].values() for k in (s.get("environment") or {}) if k.startswith("ENVMON_")}
    names |= set(env_file(DEPLOY / "envmon.env.example"))
    for unit in UNITS:
        names |= {v.split("=", 1)[0] for line in unit_values(unit, "Environment") for v in line.split()}
    names = {n for n in names if n.startswith("ENVMON_")}
    assert names - setting_variables() - NON_FIELD_VARIABLES == set()


def test_example_settings_and_secrets_load_and_the_placeholder_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in env_file(DEPLOY / "envmon.env.example").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ENVMON_CONFIG", str(DEPLOY / "secrets" / "envmon.toml.example"))
    monkeypatch.setenv("ENVMON_STATE_DIR", "/nonexistent")
    settings = load_settings()
    assert settings.environment == "production" and settings.timescaledb == "require"
    assert settings.require_database_url().startswith("postgresql://envmon:")
    assert settings.require_mqtt_url().startswith("mqtt://envmon-service:")
    assert settings.public_base_url.startswith("https://")
    with pytest.raises(ConfigError):
        settings.require_secret()


def test_dockerfile_installs_the_report_libraries_bootstrap_installs() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text()
    listed = re.search(r"DEB_PACKAGES=\(([^)]*)\)", bootstrap)
    assert listed is not None
    test_or_server_only = {"postgresql", "postgresql-contrib", "mosquitto", "mosquitto-clients", "poppler-utils",
                           "chromium", "caddy", "nodejs"}  # nodejs: npm for the browser tests (axe-core)
    needed = set(listed[1].split()) - test_or_server_only
    install = re.search(r"apt-get install -y --no-install-recommends \\\n(.*?)\\\n", text, re.DOTALL)
    assert install is not None and needed <= set(install[1].split())
    assert re.findall(r"^FROM (python:3\.11-slim\S*)", text, re.MULTILINE) != []
    assert "ENVMON_MIGRATIONS_DIR=/opt/envmon/migrations" in text and "COPY migrations /opt/envmon/migrations" in text
    assert re.search(r"^USER envmon", text, re.MULTILINE)


def test_dockerignore_lets_in_everything_the_dockerfile_copies() -> None:
    copied = re.findall(r"^COPY (?!--from)(\S+)", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    allowed = {line[1:].rstrip("/") for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")}
    assert {c.rstrip("/") for c in copied} <= allowed


@pytest.mark.parametrize("unit", UNITS)
def test_units_run_hardened_as_a_dynamic_user_with_an_environment_file(unit: str) -> None:
    for key, value in [("DynamicUser", "yes"), ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                       ("PrivateTmp", "yes"), ("EnvironmentFile", "/etc/envmon/envmon.env")]:
        assert unit_values(unit, key) == [value], key
    assert unit_values(unit, "LoadCredential") == ["envmon.toml:/etc/envmon/secrets.toml"]
    assert "ENVMON_CONFIG=%d/envmon.toml" in unit_values(unit, "Environment")


@pytest.mark.parametrize("unit", ["envmon-ingest", "envmon-alerts", "envmon-dashboard"])
def test_service_units_restart_always_and_come_after_the_migration(unit: str) -> None:
    assert unit_values(unit, "Restart") == ["always"]
    assert "envmon-migrate.service" in unit_values(unit, "After")[0].split()
    (exec_start,) = unit_values(unit, "ExecStart")
    assert build_parser().parse_args(envmon_argv(exec_start)).command == unit.removeprefix("envmon-")


def test_migration_unit_runs_once_per_boot() -> None:
    assert unit_values("envmon-migrate", "Type") == ["oneshot"]
    assert unit_values("envmon-migrate", "RemainAfterExit") == ["yes"]
    (exec_start,) = unit_values("envmon-migrate", "ExecStart")
    assert build_parser().parse_args(envmon_argv(exec_start)).command == "migrate"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is part of Debian's systemd package"
    envmon = Path(sys.executable).parent / "envmon"  # the units name /opt/envmon/venv/bin/envmon
    for unit in UNITS:
        text = (DEPLOY / "systemd" / f"{unit}.service").read_text()
        (tmp_path / f"{unit}.service").write_text(text.replace("/opt/envmon/venv/bin/envmon", str(envmon)))
    done = subprocess.run([analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],  # noqa: S603
                          capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr.strip()) == (0, "")


def test_configuration_reference_documents_every_setting() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert sorted(v for v in setting_variables() if f"`{v}`" not in text) == []
