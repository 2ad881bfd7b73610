"""The pollutant catalogue: codes, names in zh-CN and en, canonical and protocol units, conversion.

Loaded from `envmon/data/pollutants.toml`. Values are stored in each pollutant's canonical unit;
devices send the protocol unit (HJ 212 Appendix B), e.g. ug/L for Hg, Cd, Cr(VI), As and Pb.
A flue-gas concentration corrected to the reference oxygen content (折算浓度) is its own series: the
measured code with a `z` suffix (`a21026z` for SO2), `corrected_from` naming the measured code.
Every canonical unit has a plausible range (physics, with its reason); ingest refuses values outside.
"""

from __future__ import annotations

import math
import tomllib
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from envmon.errors import CatalogueError

Kind = Literal["water", "gas", "safety"]
Locale = Literal["zh-CN", "en"]

# Factors from a unit to another unit of the same quantity: value_in_to = value_in_from * factor.
_UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("ng/L", "mg/L"): 1e-6,
    ("ug/L", "mg/L"): 1e-3,
    ("g/L", "mg/L"): 1e3,
    ("ug/m3", "mg/m3"): 1e-3,
    ("g/m3", "mg/m3"): 1e3,
    ("m3/h", "m3/s"): 1 / 3600,
    ("L/s", "m3/s"): 1e-3,
    ("m3/h", "L/s"): 1000 / 3600,
    ("m3/s", "L/s"): 1e3,
    ("ppb", "ppm"): 1e-3,
}
# Spellings seen in the field for the same unit.
_UNIT_ALIASES = {
    "µg/L": "ug/L",
    "μg/L": "ug/L",
    "mg/l": "mg/L",
    "ug/l": "ug/L",
    "m³/s": "m3/s",
    "m³/h": "m3/h",
    "mg/m³": "mg/m3",
    "µg/m3": "ug/m3",
    "°C": "degC",
    "% LEL": "%LEL",
}


# The suffix of a code holding the oxygen-corrected concentration (折算, HJ 212's `Zs` fields).
CORRECTED_SUFFIX = "z"


def corrected_code(code: str) -> str:
    """The code of a measured flue-gas concentration's corrected series (a21026 -> a21026z)."""
    return code + CORRECTED_SUFFIX


def normalise_unit(unit: str) -> str:
    """The catalogue's spelling of a unit (ug/L for µg/L, m3/s for m³/s ...)."""
    unit = unit.strip()
    return _UNIT_ALIASES.get(unit, unit)


def convertible_units(unit: str) -> list[str]:
    """The units a value can be converted from into `unit` (itself included)."""
    target = normalise_unit(unit)
    found = {a for a, b in _UNIT_FACTORS if b == target} | {b for a, b in _UNIT_FACTORS if a == target}
    return sorted(found | {target})


def unit_factor(from_unit: str, to_unit: str) -> float:
    """The factor that converts a value from one unit to another; CatalogueError if unknown."""
    a, b = normalise_unit(from_unit), normalise_unit(to_unit)
    if a == b:
        return 1.0
    if (a, b) in _UNIT_FACTORS:
        return _UNIT_FACTORS[(a, b)]
    if (b, a) in _UNIT_FACTORS:
        return 1.0 / _UNIT_FACTORS[(b, a)]
    raise CatalogueError(f"cannot convert {from_unit!r} to {to_unit!r}")


class Pollutant(BaseModel):
    """One catalogue entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[a-z][0-9]{5}z?$")
    name_zh: str
    name_en: str
    kind: Kind
    canonical_unit: str
    protocol_unit: str
    protocol_factor: float = Field(gt=0)
    legacy_codes: tuple[str, ...] = ()
    corrected_from: str | None = None
    # Narrower than the unit's plausible range, when a pollutant needs it (canonical unit).
    plausible_min: float | None = None
    plausible_max: float | None = None

    @model_validator(mode="after")
    def _corrected_code_named(self) -> Pollutant:
        if (self.corrected_from is not None) != self.code.endswith(CORRECTED_SUFFIX):
            raise ValueError(f"{self.code}: a code ends in {CORRECTED_SUFFIX!r} exactly when it gives corrected_from")
        expected = corrected_code(self.corrected_from) if self.corrected_from is not None else self.code
        if self.code != expected:
            raise ValueError(f"{self.code}: the corrected code of {self.corrected_from} is {expected}")
        return self

    @model_validator(mode="after")
    def _factor_matches_units(self) -> Pollutant:
        expected = unit_factor(self.protocol_unit, self.canonical_unit)
        if abs(expected - self.protocol_factor) > 1e-12 * max(1.0, expected):
            raise ValueError(
                f"protocol_factor {self.protocol_factor} disagrees with {self.protocol_unit} -> "
                f"{self.canonical_unit} ({expected})"
            )
        return self

    def name(self, locale: Locale) -> str:
        """The pollutant's name for people in this locale."""
        return self.name_zh if locale == "zh-CN" else self.name_en


class PlausibleRange(BaseModel):
    """The values a canonical unit can physically take, and why (the bounds are data, not limits)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float
    max: float
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered_and_finite(self) -> PlausibleRange:
        if not (math.isfinite(self.min) and math.isfinite(self.max) and self.min < self.max):
            raise ValueError(f"plausible range [{self.min}, {self.max}] must be finite and ordered")
        return self


class Catalogue:
    """Look-ups by code (current or legacy) and conversion into canonical units."""

    def __init__(self, pollutants: list[Pollutant], plausible: dict[str, PlausibleRange] | None = None) -> None:
        self._by_code: dict[str, Pollutant] = {}
        for p in pollutants:
            for code in (p.code, *p.legacy_codes):
                if code in self._by_code:
                    raise CatalogueError(f"pollutant code {code!r} appears twice in the catalogue")
                self._by_code[code] = p
        self.pollutants = tuple(pollutants)
        # Measured code -> its corrected code, for the pollutants that have one.
        self.corrected = {p.corrected_from: p.code for p in pollutants if p.corrected_from is not None}
        missing = [c for c in self.corrected if c not in self._by_code]
        if missing:
            raise CatalogueError(f"corrected_from names unknown codes: {', '.join(missing)}")
        self._plausible = plausible or {}
        self._bounds = {p.code: self._bounds_of(p) for p in pollutants}

    def _bounds_of(self, p: Pollutant) -> tuple[float, float]:
        unit = self._plausible.get(p.canonical_unit)
        if unit is None:
            raise CatalogueError(f"{p.code}: no plausible range for its unit {p.canonical_unit!r}")
        low = unit.min if p.plausible_min is None else max(unit.min, p.plausible_min)
        high = unit.max if p.plausible_max is None else min(unit.max, p.plausible_max)
        if not low < high:
            raise CatalogueError(f"{p.code}: plausible range [{low}, {high}] is empty")
        return low, high

    def plausible_range(self, code: str) -> tuple[float, float]:
        """The (min, max) a canonical value of this (current or legacy) code can take."""
        return self._bounds[self.get(code).code]

    def plausible_reason(self, code: str) -> str:
        """Why values of this code are bounded where they are (for a quarantine note)."""
        return self._plausible[self.get(code).canonical_unit].reason

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Pollutant:
        """The pollutant for a current or legacy (HJ/T 212-2005) code."""
        try:
            return self._by_code[code]
        except KeyError:
            raise CatalogueError(f"unknown pollutant code {code!r}") from None

    def to_canonical(self, code: str, value: float, unit: str | None = None) -> float:
        """A value sent in `unit` (default: the protocol unit) converted to the canonical unit."""
        pollutant = self.get(code)
        if unit is None:
            return value * pollutant.protocol_factor
        return value * unit_factor(unit, pollutant.canonical_unit)

    def from_canonical(self, code: str, value: float) -> float:
        """A canonical value converted back to the protocol unit (for building device messages)."""
        return value / self.get(code).protocol_factor


def parse_catalogue(text: str, source: str = "pollutants.toml") -> Catalogue:
    """Parse a catalogue file's text strictly."""
    try:
        data = tomllib.loads(text)
        entries = [Pollutant.model_validate(item) for item in data.get("pollutants", [])]
        plausible = {unit: PlausibleRange.model_validate(v) for unit, v in data.get("plausible", {}).items()}
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise CatalogueError(f"{source}: {exc}") from exc
    return Catalogue(entries, plausible)


@cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped in the package (read once)."""
    text = resources.files("envmon.data").joinpath("pollutants.toml").read_text(encoding="utf-8")
    return parse_catalogue(text)
