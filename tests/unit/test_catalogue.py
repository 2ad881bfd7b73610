"""The pollutant catalogue: units, conversions into canonical units, legacy codes."""

from __future__ import annotations

import pytest

from envmon.catalogue import load_catalogue, parse_catalogue, unit_factor
from envmon.errors import CatalogueError


@pytest.mark.parametrize(
    ("code", "sent", "canonical"),
    [
        pytest.param("w20111", 5.0, 0.005, id="mercury-ug-to-mg"),
        pytest.param("w20115", 12.0, 0.012, id="cadmium-ug-to-mg"),
        pytest.param("w20117", 150.0, 0.15, id="chromium-vi-ug-to-mg"),
        pytest.param("w20119", 80.0, 0.08, id="arsenic-ug-to-mg"),
        pytest.param("w20120", 250.0, 0.25, id="lead-ug-to-mg"),
        pytest.param("w20116", 0.4, 0.4, id="total-chromium-stays-mg"),
        pytest.param("w20121", 0.3, 0.3, id="nickel-stays-mg"),
        pytest.param("w01001", 7.2, 7.2, id="ph-unitless"),
        pytest.param("a21026", 35.0, 35.0, id="so2-mg-m3"),
        pytest.param("s01001", 12.0, 12.0, id="lel-percent"),
    ],
)
def test_protocol_values_become_canonical(code: str, sent: float, canonical: float) -> None:
    assert load_catalogue().to_canonical(code, sent) == pytest.approx(canonical)


@pytest.mark.parametrize(
    ("code", "value", "unit", "canonical"),
    [
        pytest.param("w20117", 0.2, "mg/L", 0.2, id="already-canonical"),
        pytest.param("w20117", 200.0, "µg/L", 0.2, id="micro-sign-alias"),
        pytest.param("w20120", 300000.0, "ng/L", 0.3, id="nanograms"),
        pytest.param("a00000", 3600.0, "m3/h", 1.0, id="flow-per-hour"),
        pytest.param("w00000", 36.0, "m3/h", 10.0, id="water-flow-m3h-to-ls"),
    ],
)
def test_values_in_other_units_convert(code: str, value: float, unit: str, canonical: float) -> None:
    assert load_catalogue().to_canonical(code, value, unit) == pytest.approx(canonical)


def test_round_trip_to_protocol_unit() -> None:
    cat = load_catalogue()
    assert cat.from_canonical("w20120", cat.to_canonical("w20120", 123.0)) == pytest.approx(123.0)


@pytest.mark.parametrize(
    ("legacy", "current"), [("011", "w01018"), ("060", "w21003"), ("B01", "w00000"), ("001", "w01001")]
)
def test_legacy_2005_codes_resolve(legacy: str, current: str) -> None:
    assert load_catalogue().get(legacy).code == current


def test_unknown_code_and_incompatible_units_are_errors() -> None:
    with pytest.raises(CatalogueError, match="unknown pollutant code 'w99999'"):
        load_catalogue().get("w99999")
    with pytest.raises(CatalogueError, match="cannot convert 'ppm' to 'mg/L'"):
        unit_factor("ppm", "mg/L")


def test_catalogue_rejects_a_factor_that_disagrees_with_its_units() -> None:
    text = """
[[pollutants]]
code = "w20120"
name_zh = "总铅"
name_en = "Total lead"
kind = "water"
canonical_unit = "mg/L"
protocol_unit = "ug/L"
protocol_factor = 1.0
"""
    with pytest.raises(CatalogueError, match="disagrees with ug/L -> mg/L"):
        parse_catalogue(text)


def test_every_entry_has_names_in_both_locales() -> None:
    for p in load_catalogue().pollutants:
        assert p.name("zh-CN") and p.name("en") and p.name("zh-CN") != p.name("en")


@pytest.mark.parametrize(
    ("code", "low", "high"),
    [
        pytest.param("w20117", -1e6, 1e6, id="concentration-mg-per-litre"),
        pytest.param("a21026", -1e6, 1e6, id="concentration-mg-per-cubic-metre"),
        pytest.param("w01001", 0.0, 14.0, id="ph"),
        pytest.param("a19001", 0.0, 100.0, id="flue-gas-oxygen"),
        pytest.param("s03001", 0.0, 100.0, id="ambient-oxygen"),
        pytest.param("011", -1e6, 1e6, id="legacy-code"),
    ],
)
def test_every_pollutant_has_a_plausible_range_with_a_reason(code: str, low: float, high: float) -> None:
    catalogue = load_catalogue()
    assert catalogue.plausible_range(code) == (low, high)
    assert catalogue.plausible_reason(code)


def test_a_unit_without_a_plausible_range_is_refused() -> None:
    text = """
[[pollutants]]
code = "w20120"
name_zh = "总铅"
name_en = "Total lead"
kind = "water"
canonical_unit = "mg/L"
protocol_unit = "ug/L"
protocol_factor = 0.001
"""
    with pytest.raises(CatalogueError, match="no plausible range for its unit 'mg/L'"):
        parse_catalogue(text)
    bounded = text + '\n[plausible."mg/L"]\nmin = 0.0\nmax = 1e6\nreason = "water density"\n'
    assert parse_catalogue(bounded).plausible_range("w20120") == (0.0, 1e6)
