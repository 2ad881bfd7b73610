"""Per-rule alert policy (hold, hysteresis, flap damping, device-rule settings), loaded strictly from TOML.

A policy file overrides the defaults key by key:

    [rules.instant]
    hold_samples = 5
    [averages]
    flue_gas_day_min_valid_hours = 18

Unknown tables, rules and keys are errors that name the key (`rules.instant.hold_secs: unknown key`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.errors import AlertsError
from envmon.errors import ConfigError
from envmon.strict_toml import read_text_file, read_toml, validation_problems


class PolicyError(AlertsError, ConfigError):
    """A policy file is invalid; `problems` names each offending key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RulePolicy(_Strict):
    """How one rule's condition turns into an alert and back."""

    hold_seconds: float = Field(default=0.0, ge=0)  # the `for`: the condition must hold this long
    hold_samples: int = Field(default=1, ge=1)  # ... and over at least this many consecutive readings
    clear_ratio: float = Field(default=0.9, gt=0, le=1)  # upper limits clear below ratio x threshold
    clear_hold_seconds: float = Field(default=0.0, ge=0)  # below the clear threshold this long to clear
    flap_opens: int = Field(default=3, ge=2)  # opened this often within the window: flapping
    flap_window_seconds: float = Field(default=900.0, ge=0)  # a flapping key clears only after this long calm


class SilentPolicy(_Strict):
    """A device is silent after `intervals` reporting intervals or `min_seconds`, whichever is longer."""

    intervals: int = Field(default=3, ge=1)
    min_seconds: float = Field(default=600.0, ge=0)


class ConstantPolicy(_Strict):
    """A concentration that repeats exactly over `samples` consecutive readings is a stuck sensor."""

    # Many heavy-metal analysers measure every 30-60 min and repeat the last result each minute,
    # so the default is well above one measuring cycle of samples.
    samples: int = Field(default=120, ge=2)


class ZeroFlowPolicy(_Strict):
    """A concentration of exactly zero while the device's flow is above these is suspect."""

    water_flow_l_s: float = Field(default=0.1, ge=0)  # w00000
    gas_flow_m3_s: float = Field(default=0.1, ge=0)  # a00000


class NegativePolicy(_Strict):
    """Values below -tolerance (concentrations and flows) are a device problem."""

    tolerance: float = Field(default=0.0, ge=0)


class AveragesPolicy(_Strict):
    """HJ 212 Appendix D validity of hourly and daily averages, and when periods close."""

    flue_gas_minute_min_samples: int = Field(default=12, ge=1)  # capped at what the device can send
    flue_gas_hour_min_valid_minutes: int = Field(default=45, ge=1, le=60)
    flue_gas_day_min_valid_hours: int = Field(default=20, ge=1, le=24)
    flue_gas_normal_ratio: float = Field(default=0.75, gt=0, le=1)  # roll-up: N if this share is N
    wastewater_hour_min_valid_values: int = Field(default=1, ge=1)
    wastewater_day_min_valid_hours: int = Field(default=1, ge=1, le=24)
    # HJ 212 marks a wastewater hour abnormal when any value in it is; by default such an hour is not
    # averaged (HJ 356-2019 averages valid data only); false keeps its valid values (flag reported with it).
    wastewater_abnormal_hour_invalid: bool = True
    grace_seconds: float = Field(default=300.0, ge=0)  # late data still counts this long after a period ends
    # Wastewater concentration means weighted by the outfall's flow (w00000) where the device measures it.
    flow_weighted: bool = True


class JudgingPolicy(_Strict):
    """How values meet limits (docs/conformance.md explains each choice)."""

    # GB/T 8170-2008 4.3: "full" (全数值比较法, the default when a standard says nothing) compares the
    # value as written; "rounded" (修约值比较法) first rounds it to the limit's decimals, half to even.
    comparison: Literal["full", "rounded"] = "full"
    # How a T (over the measuring range) value enters hourly/daily averages: as at least the range's
    # upper limit ("range_upper"), or not at all ("exclude", like other abnormal flags). [U]
    over_range_in_averages: Literal["range_upper", "exclude"] = "range_upper"
    # Announce a daily exceedance before the day ends once the running mean guarantees it.
    early_daily_exceedance: bool = True


class SeqGapPolicy(_Strict):
    """How long a sequence-gap alert stays after the last abandoned gap."""

    quiet_seconds: float = Field(default=3600.0, ge=0)


# Gas alarms fire at the set point at once (GB/T 50493 alarms are immediate); discharge instants
# want a few consecutive samples so one spike does not text an inspector; device rules minutes.
DEFAULT_RULES: dict[str, RulePolicy] = {
    "instant": RulePolicy(hold_samples=3, clear_hold_seconds=60.0),
    "hour_avg": RulePolicy(),
    "day_avg": RulePolicy(),
    "gas": RulePolicy(clear_ratio=0.95, clear_hold_seconds=5.0),
    "flag": RulePolicy(hold_seconds=120.0, clear_hold_seconds=60.0),
    "silent": RulePolicy(),
    "zero_flow": RulePolicy(hold_seconds=300.0, hold_samples=3, clear_hold_seconds=60.0),
    "constant": RulePolicy(),
    "negative": RulePolicy(hold_seconds=60.0, hold_samples=3, clear_hold_seconds=60.0),
    "seq_gap": RulePolicy(),
    # S (manually entered) data for an hour running is a known falsification signal, not a typing slip.
    "manual": RulePolicy(hold_seconds=3600.0, hold_samples=2, clear_hold_seconds=300.0),
    "implausible": RulePolicy(hold_seconds=60.0, hold_samples=2, clear_hold_seconds=60.0),
}


class Policy(_Strict):
    """The whole engine policy."""

    rules: dict[str, RulePolicy] = Field(default_factory=lambda: dict(DEFAULT_RULES))
    silent: SilentPolicy = SilentPolicy()
    constant: ConstantPolicy = ConstantPolicy()
    zero_flow: ZeroFlowPolicy = ZeroFlowPolicy()
    negative: NegativePolicy = NegativePolicy()
    averages: AveragesPolicy = AveragesPolicy()
    seq_gap: SeqGapPolicy = SeqGapPolicy()
    judging: JudgingPolicy = JudgingPolicy()

    def rule(self, name: str) -> RulePolicy:
        """The policy of one rule (its default when the rules table leaves it out)."""
        return self.rules.get(name) or DEFAULT_RULES[name]


def _merged_rules(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Each rule table laid over that rule's defaults; unknown rule names are errors."""
    given = data.get("rules", {})
    if not isinstance(given, dict):
        raise PolicyError(source, ["rules: must be a table of rule tables"])
    unknown = sorted(set(given) - set(DEFAULT_RULES))
    if unknown:
        raise PolicyError(source, [f"rules.{name}: unknown rule" for name in unknown])
    merged: dict[str, Any] = {}
    for name, default in DEFAULT_RULES.items():
        table = given.get(name, {})
        merged[name] = {**default.model_dump(), **table} if isinstance(table, dict) else table
    return merged


def load_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse a policy TOML text strictly; PolicyError names every offending key."""
    data = read_toml(text, source, PolicyError)
    data = {**data, "rules": _merged_rules(data, source)}
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, validation_problems(exc, data)) from exc


def load_policy_file(path: Path) -> Policy:
    """Read and parse a policy file."""
    return load_policy(read_text_file(path, PolicyError), str(path))
