"""GB/T 50493-2019 s5.5.2: every gas-detector set point of the shipped preset within the clause's ceiling."""

from __future__ import annotations

import pytest

from envmon.registry.load import load_presets

# Ideal-gas molar volume at the GBZ reference conditions (20 degC, 101.3 kPa).
GAS_CONSTANT = 8.314462618
MOLAR_VOLUME_20C_L = GAS_CONSTANT * 293.15 / 101.3

# (code, OEL in mg/m3 as GBZ 2.1-2019 gives it: MAC, or PC-STEL where there is no MAC; molar mass g/mol)
TOXIC = [
    pytest.param("s02001", 10.0, 34.08, id="H2S-MAC-10"),
    pytest.param("s02002", 1.0, 70.91, id="Cl2-MAC-1"),
    pytest.param("s02003", 30.0, 17.03, id="NH3-PC-STEL-30"),
    pytest.param("s02004", 30.0, 28.01, id="CO-PC-STEL-30"),
]


def ppm_of(mg_m3: float, molar_mass: float, molar_volume_l: float) -> float:
    """A mass concentration as a volume fraction (ppm) at the given molar volume."""
    return mg_m3 * molar_volume_l / molar_mass


def _row(code: str):  # type: ignore[no-untyped-def]
    row = load_presets()["GBT50493-2019"].row(code)
    assert row is not None, code
    return row


def test_molar_volume_at_gbz_reference_conditions() -> None:
    assert pytest.approx(24.06, abs=0.005) == MOLAR_VOLUME_20C_L


@pytest.mark.parametrize(("code", "oel_mg_m3", "molar_mass"), TOXIC)
def test_toxic_set_points_at_most_100_and_200_percent_of_oel(code: str, oel_mg_m3: float, molar_mass: float) -> None:
    row = _row(code)
    oel_ppm = ppm_of(oel_mg_m3, molar_mass, MOLAR_VOLUME_20C_L)
    assert row.upper is not None and row.level2_upper is not None
    assert row.upper <= oel_ppm
    assert row.level2_upper <= 2 * oel_ppm


def test_co_level2_is_about_48_ppm_not_160() -> None:
    row = _row("s02004")
    assert (row.upper, row.level2_upper) == (24.0, 48.0)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("s01001", (None, 25.0, 50.0), id="combustible-25-50-LEL"),
        pytest.param("s03001", (19.5, 23.5, None), id="oxygen-19.5-23.5-vol"),
    ],
)
def test_combustible_and_oxygen_set_points(code: str, expected: tuple[float | None, ...]) -> None:
    row = _row(code)
    assert (row.lower, row.upper, row.level2_upper) == expected
