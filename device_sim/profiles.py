"""Device profiles: how each pollutant behaves at a plant of each industry, in canonical units.

A profile places a channel's baseline below its limit (a fraction of it, different per device),
gives it noise, a share in the daily production cycle and a slow drift. Reporting intervals come
from the registry; the defaults here serve load mode and registries that leave them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# concentration: scales with load; flow: proportional to load; level: a set point (pH, O2 in air);
# inverse: falls as load rises (stack O2); gas: ambient background near zero, never negative.
Shape = Literal["concentration", "flow", "level", "inverse", "gas"]


@dataclass(frozen=True, slots=True)
class Profile:
    """How one pollutant behaves; `typical` is used when the channel has no upper limit."""

    shape: Shape
    typical: float
    noise: float  # relative standard deviation (absolute for level and gas shapes)
    baseline_ratio: tuple[float, float] = (0.25, 0.5)  # of the upper limit, chosen per device
    load_weight: float = 0.3  # how much of the value follows the production load


PROFILES: dict[str, Profile] = {
    "w00000": Profile("flow", 8.0, 0.03, load_weight=1.0),
    "w01001": Profile("level", 7.3, 0.05),
    "w01018": Profile("concentration", 60.0, 0.05),
    "w21003": Profile("concentration", 8.0, 0.05),
    "w21001": Profile("concentration", 20.0, 0.05),
    "w21011": Profile("concentration", 1.2, 0.06),
    "w20111": Profile("concentration", 0.001, 0.08, (0.15, 0.35)),
    "w20115": Profile("concentration", 0.004, 0.08, (0.15, 0.35)),
    "w20116": Profile("concentration", 0.12, 0.06),
    "w20117": Profile("concentration", 0.02, 0.07, (0.2, 0.4)),
    "w20119": Profile("concentration", 0.02, 0.08),
    "w20120": Profile("concentration", 0.05, 0.07, (0.2, 0.4)),
    "w20121": Profile("concentration", 0.05, 0.06),
    "w20122": Profile("concentration", 0.06, 0.06),
    "w20123": Profile("concentration", 0.2, 0.06),
    "w21016": Profile("concentration", 0.05, 0.06),
    "w21017": Profile("concentration", 2.0, 0.05),
    "a00000": Profile("flow", 12.0, 0.03, load_weight=1.0),
    "a21026": Profile("concentration", 20.0, 0.06),
    "a21002": Profile("concentration", 60.0, 0.05),
    "a34013": Profile("concentration", 6.0, 0.08),
    "a19001": Profile("inverse", 10.0, 0.02, load_weight=0.2),
    "a01012": Profile("flow", 110.0, 0.01, load_weight=0.4),
    "s01001": Profile("gas", 0.4, 0.25),
    "s02001": Profile("gas", 0.2, 0.08),
    "s02002": Profile("gas", 0.01, 0.005),
    "s02003": Profile("gas", 1.5, 0.4),
    "s02004": Profile("gas", 2.0, 0.5),
    "s03001": Profile("level", 20.9, 0.04),
}
# Wastewater flow differs by plant size, which follows the industry (L/s).
FLOW_BY_INDUSTRY: dict[str, float] = {
    "electroplating": 6.0,
    "lead_acid_battery": 10.0,
    "chemical": 30.0,
    "pharmaceutical": 15.0,
    "printing_dyeing": 40.0,
    "smelting": 20.0,
    "other": 8.0,
}
# Realistic reporting intervals when the registry gives none: analysers every 30 s, gas faster.
DEFAULT_INTERVAL_SECONDS: dict[str, int] = {"water_analyser": 30, "cems": 30, "gas_detector": 5}
# Industry profiles for load mode and documentation: what each kind of point measures.
INDUSTRY_POLLUTANTS: dict[str, tuple[str, ...]] = {
    "electroplating": ("w20117", "w20116", "w20121", "w20122", "w20123", "w20115", "w01001", "w01018", "w00000"),
    "lead_acid_battery": ("w20120", "w20115", "w01001", "w00000"),
    "chemical": ("w01018", "w21003", "w21011", "w01001", "w00000"),
    "stack": ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012"),
    "gas_detector": ("s01001", "s02001", "s02002", "s02003", "s03001"),
}


def profile_of(code: str) -> Profile:
    """The profile of a pollutant code (a mild generic concentration for codes not listed)."""
    return PROFILES.get(code, Profile("concentration", 1.0, 0.05))
