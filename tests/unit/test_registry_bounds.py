"""Registry values are bounded: finite numbers, text of bounded length without control characters.

A NaN limit read as "no limit" and a 5 MB name was stored before; each case names the key it refuses."""

from __future__ import annotations

import pytest

from envmon.errors import RegistryError
from envmon.registry.bounds import BoundsError, check_number, check_text
from envmon.registry.load import parse_registry
from tests.unit.test_registry_load import VALID

HUGE = "x" * 5_000_000


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param("upper = 0.05", "upper = nan", "limits[0] (w20117).upper: must be a finite number", id="nan-limit"),
        pytest.param("upper = 0.05", "upper = inf", "limits[0] (w20117).upper: must be a finite number", id="inf-limit"),
        pytest.param("upper = 0.05", "upper = -inf", "limits[0] (w20117).upper: must be a finite number",
                     id="minus-inf-limit"),
        pytest.param("upper = 0.05", "upper = 1e300", "limits[0] (w20117).upper: must be within", id="huge-limit"),
        pytest.param("severe_multiple = 3.0", "severe_multiple = inf",
                     "limits[0] (w20117).severe_multiple: must be a finite number", id="inf-severe-multiple"),
        pytest.param('name_zh = "上海甲电镀有限公司"', f'name_zh = "{HUGE}"',
                     "sites[0] (FX-EP-001).name_zh: 5000000 characters, at most 200", id="5mb-name"),
        pytest.param('name = "张伟"', 'name = "张\\u0000伟"',
                     "recipients[0] (insp-a).name: control character U+0000 at position 1", id="nul-in-name"),
        pytest.param('point_name_en = "Main outfall"', 'point_name_en = "Main\\toutfall"',
                     "devices[0] (310120EP001W01).point_name_en: control character U+0009", id="tab-in-a-name"),
        pytest.param('point_name_en = "Main outfall"', 'point_name_en = "Main \\u202eoutfall"',
                     "devices[0] (310120EP001W01).point_name_en: control character U+202E", id="bidi-override"),
        pytest.param('source = "排污许可证"', 'source = "permit\\u0085"',
                     "limits[0] (w20117).source: control character U+0085", id="c1-control-in-source"),
        pytest.param('latitude = 30.9', 'latitude = 30.9\nnotes = "line\\u0000"',
                     "sites[0] (FX-EP-001).notes: control character U+0000", id="nul-in-notes"),
        pytest.param('latitude = 30.9', f'latitude = 30.9\nnotes = "{"n" * 4001}"',
                     "sites[0] (FX-EP-001).notes: 4001 characters, at most 4000", id="notes-too-long"),
        pytest.param('role = "环保负责人"', 'role = "环保\\u0007"',
                     "sites[0] (FX-EP-001).contacts[0].role: control character U+0007", id="bell-in-nested-contact"),
        pytest.param('pollutants = ["s02002"]', 'pollutants = ["s02002\\u0000"]',
                     "devices[1] (310120EP001G01).pollutants: item 0: control character U+0000",
                     id="nul-in-a-list-item"),
    ],
)
def test_out_of_bounds_values_are_refused_naming_the_key(old: str, new: str, expected: str) -> None:
    assert old in VALID
    with pytest.raises(RegistryError) as err:
        parse_registry(VALID.replace(old, new, 1), "bad.toml")
    assert expected in str(err.value)
    assert len(str(err.value)) < 2000, "the message never echoes the bad value"


def test_a_huge_code_is_named_in_a_short_message() -> None:
    with pytest.raises(RegistryError) as err:
        parse_registry(VALID.replace('mn = "310120EP001W01"', f'mn = "{HUGE}"', 1), "bad.toml")
    assert "devices[0] (xxxx" in str(err.value) and len(str(err.value)) < 2000


def test_paragraphs_keep_their_line_breaks() -> None:
    text = VALID.replace("latitude = 30.9", 'latitude = 30.9\nnotes = "2024-03: 限期整改\\n2025-01: 复查合格\\t(已结案)"')
    assert parse_registry(text).file.sites[0].notes == "2024-03: 限期整改\n2025-01: 复查合格\t(已结案)"


@pytest.mark.parametrize(
    "value", [pytest.param(float("nan"), id="nan"), pytest.param(float("inf"), id="inf"), pytest.param(-1e13, id="huge")]
)
def test_check_number_refuses(value: float) -> None:
    with pytest.raises(BoundsError):
        check_number(value)


@pytest.mark.parametrize(
    ("value", "field"),
    [pytest.param("a\x00", "name", id="nul"), pytest.param("a\ud800", "name", id="lone-surrogate"),
     pytest.param("a\nb", "name", id="newline-in-a-name"), pytest.param("n" * 201, "name", id="long-name"),
     pytest.param("a\x1b[31m", "notes", id="escape-in-notes")],
)
def test_check_text_refuses(value: str, field: str) -> None:
    with pytest.raises(BoundsError):
        check_text(value, field=field)
