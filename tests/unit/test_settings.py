"""Settings: precedence, validation, and refusal of weak secrets outside the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from envmon.errors import ConfigError
from envmon.settings import is_weak_secret, load_settings

STRONG = "k3v9-very-long-random-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "MQTT_URL", "ENVMON_CONFIG", "ENVMON_SECRET_KEY", "ENVMON_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVMON_STATE_DIR", str(tmp_path / "state"))


@pytest.mark.parametrize(
    ("environment", "secret", "refused"),
    [
        pytest.param("production", None, True, id="production-missing"),
        pytest.param("production", "changeme", True, id="production-known-weak"),
        pytest.param("production", "short-secret", True, id="production-short"),
        pytest.param("production", STRONG, False, id="production-strong"),
        pytest.param("development", None, True, id="development-missing"),
        pytest.param("demo", None, False, id="demo-allows-default"),
        pytest.param("test", "changeme", False, id="test-allows-weak"),
    ],
)
def test_secret_policy(environment: str, secret: str | None, refused: bool) -> None:
    settings = load_settings(environment=environment, secret_key=secret)
    if refused:
        with pytest.raises(ConfigError, match="ENVMON_SECRET_KEY is missing or weak"):
            settings.require_secret()
    else:
        settings.require_secret()


def test_environment_beats_config_file_beats_state_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.toml").write_text(
        'database_url = "postgresql://state/db"\nmqtt_url = "mqtt://state"\nsecret_key = "s"\n[stack]\npg_port = 1\n'
    )
    config = tmp_path / "envmon.toml"
    config.write_text('mqtt_url = "mqtt://config"\nlocale = "en"\n')
    monkeypatch.setenv("ENVMON_CONFIG", str(config))
    s = load_settings()
    assert (s.database_url, s.mqtt_url, s.locale) == ("postgresql://state/db", "mqtt://config", "en")
    monkeypatch.setenv("MQTT_URL", "mqtt://env")
    assert load_settings().mqtt_url == "mqtt://env"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"timezone": "Mars/Olympus"}, "unknown time zone", id="bad-timezone"),
        pytest.param({"locale": "fr"}, "locale", id="bad-locale"),
        pytest.param({"surprise": 1}, "surprise", id="unknown-setting"),
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**overrides)


def test_unknown_key_in_config_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "envmon.toml"
    config.write_text('databse_url = "typo"\n')
    monkeypatch.setenv("ENVMON_CONFIG", str(config))
    with pytest.raises(ConfigError, match="databse_url"):
        load_settings()


def test_missing_database_says_how_to_get_one() -> None:
    with pytest.raises(ConfigError, match="envmon stack up"):
        load_settings().require_database_url()


@pytest.mark.parametrize(
    ("value", "weak"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("secret", True, id="known"),
        pytest.param("a" * 31, True, id="short"),
        pytest.param(STRONG, False, id="strong"),
        pytest.param("a" * 40, True, id="one-character-repeated"),
        pytest.param("x" * 64, True, id="long-but-one-character"),
        pytest.param("ab" * 20, True, id="two-characters"),
        pytest.param("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefgh", True, id="low-entropy-with-enough-distinct"),
        pytest.param("Tr0ub4dor&3" * 4, True, id="repeated-pattern"),
        pytest.param("abcdefghijklmnopqrstuvwxyz0123456789", True, id="alphabet-run"),
        pytest.param("9f86d081884c7d659a2feaa0c55ad015", False, id="hex-128-bit"),
        pytest.param("Xq3_vR9-LmZ2pT8wKb4NcY7hJ1sF6gDe", False, id="urlsafe-32"),
    ],
)
def test_is_weak_secret(value: str, weak: bool) -> None:
    assert is_weak_secret(value) is weak


def test_generated_secrets_are_never_called_weak() -> None:
    import secrets

    assert not any(is_weak_secret(secrets.token_urlsafe(48)) for _ in range(2000))
    assert not any(is_weak_secret(secrets.token_hex(32)) for _ in range(2000))


def test_a_repeated_character_secret_is_refused_in_production_with_the_reason() -> None:
    settings = load_settings(environment="production", secret_key="a" * 40)
    with pytest.raises(ConfigError, match=r"weak \(only 1 distinct character\(s\)\)"):
        settings.require_secret()
    load_settings(environment="demo", secret_key="a" * 40).require_secret()
