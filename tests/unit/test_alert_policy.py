"""Policy files: defaults per rule, overrides key by key, strict errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.rules.policy import DEFAULT_RULES, Policy, PolicyError, load_policy, load_policy_file


def test_defaults_fit_each_kind_of_rule() -> None:
    p = Policy()
    assert p.rule("gas").hold_seconds <= 2
    assert p.rule("instant").hold_samples >= 2
    assert p.rule("flag").hold_seconds >= 60
    assert (p.silent.intervals, p.silent.min_seconds) == (3, 600)
    averages = p.averages
    assert (averages.flue_gas_hour_min_valid_minutes, averages.flue_gas_day_min_valid_hours) == (45, 20)
    assert (averages.wastewater_hour_min_valid_values, averages.wastewater_day_min_valid_hours) == (1, 1)


def test_an_empty_file_is_the_defaults() -> None:
    assert load_policy("") == Policy()


def test_a_rule_table_overrides_only_the_keys_it_names() -> None:
    p = load_policy("[rules.instant]\nhold_samples = 5\n")
    assert p.rule("instant").hold_samples == 5
    assert p.rule("instant").clear_hold_seconds == DEFAULT_RULES["instant"].clear_hold_seconds
    assert p.rule("gas") == DEFAULT_RULES["gas"]


def test_sections_override_device_rule_settings() -> None:
    p = load_policy("[silent]\nmin_seconds = 120\n[constant]\nsamples = 10\n[averages]\ngrace_seconds = 30.5\n")
    assert (p.silent.min_seconds, p.constant.samples, p.averages.grace_seconds) == (120, 10, 30.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[rules.instant]\nhold_secs = 3\n", "rules.instant.hold_secs: unknown key", id="unknown-rule-key"),
        pytest.param("[rules.bogus]\nhold_seconds = 3\n", "rules.bogus: unknown rule", id="unknown-rule"),
        pytest.param("[silence]\nintervals = 3\n", "silence: unknown key", id="unknown-table"),
        pytest.param("[averages]\nflue_gas_hour_min_valid_minutes = 61\n", "averages.flue_gas_hour_min_valid_minutes",
                     id="out-of-range"),
        pytest.param("[rules.gas]\nclear_ratio = 1.5\n", "rules.gas.clear_ratio", id="clear-ratio-above-one"),
        pytest.param("[constant]\nsamples = \"ten\"\n", "constant.samples", id="wrong-type"),
        pytest.param("[rules\n", "not valid TOML", id="not-toml"),
    ],
)
def test_bad_policy_names_the_key(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(text, "p.toml")
    assert message in str(err.value) and str(err.value).startswith("p.toml")


def test_load_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[rules.gas]\nhold_seconds = 1\n", encoding="utf-8")
    assert load_policy_file(path).rule("gas").hold_seconds == 1
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy_file(tmp_path / "missing.toml")
