"""Recommended on-site checks, chosen from a data file by pollutant, industry and rule."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, ValidationError

from alerts.reports.errors import ReportError
from alerts.reports.model import Check


class CheckRule(BaseModel):
    """One entry of checklists.toml; an empty list matches anything, `w*` matches every w code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pollutants: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    zh: str
    en: str
    ref: str | None = None

    def matches(self, pollutant: str, industry: str, rule: str) -> bool:
        """True when this check applies to the pollutant, industry and rule."""
        return (
            _matches_code(self.pollutants, pollutant)
            and (not self.industries or industry in self.industries)
            and (not self.rules or rule in self.rules)
        )


def _matches_code(patterns: tuple[str, ...], code: str) -> bool:
    if not patterns:
        return True
    return any(code == p or (p.endswith("*") and code.startswith(p[:-1])) for p in patterns)


def parse_checklists(text: str, source: str = "checklists.toml") -> tuple[CheckRule, ...]:
    """Parse a checklist file strictly; unknown keys are errors."""
    try:
        data = tomllib.loads(text)
        return tuple(CheckRule.model_validate(item) for item in data.get("checks", []))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ReportError(f"{source}: {exc}") from exc


@cache
def load_checklists() -> tuple[CheckRule, ...]:
    """The checklist shipped with the package (read once)."""
    text = resources.files("alerts.reports.data").joinpath("checklists.toml").read_text(encoding="utf-8")
    return parse_checklists(text)


def checks_for(
    pollutant: str, industry: str, rule: str, rules: tuple[CheckRule, ...] | None = None
) -> tuple[Check, ...]:
    """The checks that apply, in file order."""
    chosen = rules if rules is not None else load_checklists()
    return tuple(Check(r.zh, r.en, r.ref) for r in chosen if r.matches(pollutant, industry, rule))
