"""Typed settings: environment variables, an optional TOML file, and the local stack's state file.

Precedence, highest first: explicit arguments, environment (`ENVMON_*`, plus `DATABASE_URL` and
`MQTT_URL`), the TOML file named by `ENVMON_CONFIG`, the state file written by `envmon stack up`
(`<state_dir>/stack.toml`), then the defaults below.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from envmon.errors import ConfigError

STATE_FILE_NAME = "stack.toml"
MIN_SECRET_CHARS = 32
# Length alone let "a" * 40 through. A random secret of 32 hex digits (the weakest alphabet people
# use) showed at least 8 different characters and 2.76 bits of Shannon entropy per character in
# 100,000 draws; these floors refuse repetition without refusing such a secret.
MIN_SECRET_DISTINCT_CHARS = 8
MIN_SECRET_BITS_PER_CHAR = 2.5
# Values people paste from examples; refused outside the demo even when long enough.
KNOWN_WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "password", "envmon", "demo", "insecure", "development"}
)
STATE_KEYS = ("database_url", "mqtt_url", "secret_key")


def default_state_dir() -> Path:
    """Where the local stack keeps its data: `$ENVMON_STATE_DIR` or `./.envmon`."""
    return Path(os.environ.get("ENVMON_STATE_DIR", ".envmon")).absolute()


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads selected top-level keys from a TOML file; a missing file contributes nothing."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None, keys: tuple[str, ...] | None):
        super().__init__(settings_cls)
        self._path = path
        self._keys = keys

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self._path is None or not self._path.is_file():
            return {}
        try:
            data = tomllib.loads(self._path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{self._path}: not valid TOML: {exc}") from exc
        if self._keys is None:
            unknown = sorted(set(data) - set(self.settings_cls.model_fields))
            if unknown:
                raise ConfigError(f"{self._path}: unknown setting(s) {', '.join(unknown)}")
            return data
        return {k: v for k, v in data.items() if k in self._keys}


class _PlainEnvSource(PydanticBaseSettingsSource):
    """The conventional unprefixed variables DATABASE_URL and MQTT_URL."""

    NAMES = {"DATABASE_URL": "database_url", "MQTT_URL": "mqtt_url"}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {field: os.environ[var] for var, field in self.NAMES.items() if os.environ.get(var)}


class Settings(BaseSettings):
    """Every setting envmon reads, validated once at start."""

    model_config = SettingsConfigDict(env_prefix="ENVMON_", extra="forbid", frozen=True)

    environment: Literal["demo", "development", "test", "production"] = "development"
    state_dir: Path = Field(default_factory=default_state_dir)
    database_url: str | None = None
    mqtt_url: str | None = None
    secret_key: SecretStr | None = None
    locale: Literal["zh-CN", "en"] = "zh-CN"
    timezone: str = "Asia/Shanghai"
    timescaledb: Literal["auto", "require", "off"] = "auto"
    migrations_dir: Path = Field(default_factory=lambda: Path(__file__).resolve().parent.parent / "migrations")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    ingest_client_id: str = "envmon-ingest"
    ingest_shared_subscription: bool = False
    ingest_http_host: str = "127.0.0.1"
    ingest_http_port: int = Field(default=9310, ge=0, le=65535)
    ingest_batch_max_messages: int = Field(default=2000, gt=0)
    ingest_batch_max_seconds: float = Field(default=0.05, gt=0)
    # Database connections writing batches at once (see docs/configuration.md).
    ingest_committers: int = Field(default=2, ge=1, le=8)
    ingest_hj212: bool = False
    ingest_workers: int = Field(default=1, ge=1, le=64)
    # Publish committed batches for an alert engine in another process (`envmon alerts`).
    ingest_publish_batches: bool = True
    # Life-safety devices' messages pass the analysers' backlog in ingest (ingest/lane.py).
    ingest_priority_lane: bool = True
    # Python's GIL switch interval in a process that runs ingest (see docs/configuration.md).
    ingest_gil_switch_seconds: float = Field(default=0.0005, gt=0, le=0.1)
    hj212_host: str = "127.0.0.1"
    hj212_port: int = Field(default=9212, ge=0, le=65535)
    # Failed HJ 212 logins (wrong PW, unknown MN): close the connection after this many, and block the
    # remote address after that many from it, for a window that doubles up to the maximum.
    hj212_auth_max_failures_per_connection: int = Field(default=3, ge=1)
    hj212_auth_max_failures_per_address: int = Field(default=5, ge=1)
    hj212_auth_backoff_seconds: float = Field(default=5.0, gt=0)
    hj212_auth_backoff_max_seconds: float = Field(default=300.0, gt=0)
    # Alerts: the engine's own HTTP port (metrics, health, Twilio callbacks and inbound SMS).
    alerts_http_host: str = "127.0.0.1"
    alerts_http_port: int = Field(default=9320, ge=0, le=65535)
    alerts_policy_file: Path | None = None
    alerts_tick_seconds: float = Field(default=1.0, gt=0)
    # The engine's shard: a district code, or "*" for every device. One engine per shard is active
    # (PostgreSQL advisory lock); more instances of the same shard stand by.
    alerts_shard: str = "*"
    # Generate the inspection report (HTML and PDF, zh-CN and English) when an alert opens or changes.
    alerts_reports: bool = True
    # /healthz turns 503 when the oldest batch waiting for the engine is older than this (it falls behind).
    alerts_max_lag_seconds: float = Field(default=30.0, gt=0)
    # ... or when the engine's or the SMS sender's database has been failing for longer than this.
    alerts_database_retry_max_seconds: float = Field(default=30.0, gt=0)
    # An open pollution or safety alert older than this with no notification and no recorded reason is
    # "silent" (metric envmon_alerts_silent, /healthz check silent_alerts); covers the SMS grouping window.
    alerts_silent_grace_seconds: float = Field(default=120.0, gt=0)
    # The platform watchdog (`envmon watchdog`, alerts/watchdog.py): how often it looks, which services must
    # have a fresh healthy heartbeat, when a heartbeat is stale, when a district's silence is a platform
    # fault (at least this share and this many of its recently reporting devices silent at once; a device
    # is silent after max(watchdog_device_silent_seconds, 3 reporting intervals)), how long calm must last
    # before recovery is announced, and the registry recipient role that is paged.
    watchdog_interval_seconds: float = Field(default=5.0, gt=0)
    # How often ingest and the alert service write their heartbeat (envmon/heartbeat.py).
    heartbeat_interval_seconds: float = Field(default=5.0, gt=0)
    watchdog_services: list[str] = Field(default_factory=lambda: ["ingest", "alerts"])
    watchdog_stale_seconds: float = Field(default=30.0, gt=0)
    watchdog_device_silent_seconds: float = Field(default=120.0, gt=0)
    watchdog_district_silent_fraction: float = Field(default=0.5, gt=0, le=1)
    watchdog_district_min_silent_devices: int = Field(default=3, ge=1)
    watchdog_recovery_hold_seconds: float = Field(default=60.0, ge=0)
    watchdog_recipient_role: str = "platform_admin"
    # Where people reach envmon from outside (links in SMS, the callback URL Twilio signs).
    public_base_url: str = "http://127.0.0.1:8080"
    report_link_ttl_seconds: int = Field(default=7 * 86400, gt=0)
    # The plant's answer to an exceedance (alerts/answers.py): deadline, reminder interval, link lifetime.
    answer_deadline_seconds: int = Field(default=24 * 3600, gt=0)
    answer_reminder_seconds: int = Field(default=6 * 3600, gt=0)
    answer_link_ttl_seconds: int = Field(default=7 * 86400, gt=0)
    # Dashboard (see dashboard/config.py): plain http is accepted only on loopback.
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(default=8080, ge=0, le=65535)
    dashboard_session_idle_seconds: int = Field(default=12 * 3600, gt=0)
    dashboard_session_max_seconds: int = Field(default=7 * 86400, gt=0)
    dashboard_login_max_failures_per_user: int = Field(default=5, gt=0)
    dashboard_login_max_failures_per_client: int = Field(default=20, gt=0)
    dashboard_login_window_seconds: int = Field(default=900, gt=0)
    dashboard_allow_http_on_loopback: bool = True
    # Addresses (IPs or CIDR networks, comma-separated) of the reverse proxies whose X-Forwarded-For
    # and X-Forwarded-Proto the dashboard believes. Empty: nobody's, the peer address is the client.
    dashboard_trusted_proxies: str = ""
    # Twilio: with no account SID and token the SMS go to the console and the log instead.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_status_callback_url: str | None = None
    # Only for tests and private gateways: the base URL of a Twilio-compatible API.
    twilio_api_base_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("dashboard_trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",") if e.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return ",".join(entries)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = os.environ.get("ENVMON_CONFIG")
        explicit = getattr(init_settings, "init_kwargs", {}).get("state_dir")
        state_dir = Path(explicit).absolute() if explicit else default_state_dir()
        return (
            init_settings,
            env_settings,
            _PlainEnvSource(settings_cls),
            _TomlFileSource(settings_cls, Path(config) if config else None, None),
            _TomlFileSource(settings_cls, state_dir / STATE_FILE_NAME, STATE_KEYS),
        )

    @property
    def zone(self) -> ZoneInfo:
        """The time zone in which people are shown times."""
        return ZoneInfo(self.timezone)

    def require_database_url(self) -> str:
        """The database URL, or a ConfigError saying how to get one."""
        if not self.database_url:
            raise ConfigError("no database: set DATABASE_URL, or start the local stack with `envmon stack up`")
        return self.database_url

    def require_mqtt_url(self) -> str:
        """The broker URL, or a ConfigError saying how to get one."""
        if not self.mqtt_url:
            raise ConfigError("no MQTT broker: set MQTT_URL, or start the local stack with `envmon stack up`")
        return self.mqtt_url

    def require_secret(self) -> str:
        """The signing secret; a missing or weak one is refused outside the demo and tests."""
        value = self.secret_key.get_secret_value() if self.secret_key else ""
        weakness = secret_weakness(value)
        if weakness is not None and self.environment not in ("demo", "test"):
            raise ConfigError(
                f"ENVMON_SECRET_KEY is missing or weak ({weakness}): give at least {MIN_SECRET_CHARS} random "
                "characters (e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return value


def is_weak_secret(value: str) -> bool:
    """True for a missing, short, well-known or low-entropy secret."""
    return secret_weakness(value) is not None


def secret_weakness(value: str) -> str | None:
    """Why the secret is weak, in a few words; None when it looks random enough."""
    if not value:
        return "missing"
    if value.strip().lower() in KNOWN_WEAK_SECRETS:
        return "a well-known value"
    if len(value) < MIN_SECRET_CHARS:
        return f"{len(value)} characters, fewer than {MIN_SECRET_CHARS}"
    if len(set(value)) < MIN_SECRET_DISTINCT_CHARS:
        return f"only {len(set(value))} distinct character(s)"
    if shannon_bits_per_char(value) < MIN_SECRET_BITS_PER_CHAR:
        return f"{shannon_bits_per_char(value):.1f} bits of entropy per character, under {MIN_SECRET_BITS_PER_CHAR}"
    if _repeat_period(value) is not None:
        return f"a pattern of {_repeat_period(value)} characters repeated"
    if _consecutive_share(value) >= 0.5:
        return "mostly runs of consecutive characters"
    return None


def shannon_bits_per_char(value: str) -> float:
    """The Shannon entropy of the string's character frequencies, in bits per character."""
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values()) if total else 0.0


def _repeat_period(value: str) -> int | None:
    """The shortest unit that, repeated, makes the whole string (at least twice); None if there is none."""
    for period in range(1, len(value) // 2 + 1):
        if all(value[i] == value[i - period] for i in range(period, len(value))):
            return period
    return None


def _consecutive_share(value: str) -> float:
    """The share of neighbouring characters that are neighbours in the alphabet ("abcd", "4321")."""
    pairs = list(zip(value, value[1:], strict=False))
    return sum(abs(ord(b) - ord(a)) == 1 for a, b in pairs) / len(pairs) if pairs else 0.0


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the settings, converting validation failures to ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from exc
