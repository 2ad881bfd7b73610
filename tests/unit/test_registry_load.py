"""Registry files: a valid file parses; each kind of bad input is an error that says where."""

from __future__ import annotations

import pytest

from envmon.errors import RegistryError
from envmon.registry.load import parse_presets, parse_registry

VALID = """
version = 1

[[districts]]
code = "fx"
name_zh = "奉贤区"
name_en = "Fengxian District"

[[sites]]
code = "FX-EP-001"
name_zh = "上海甲电镀有限公司"
name_en = "Shanghai Jia Electroplating Co."
district = "fx"
industry = "electroplating"
latitude = 30.9
longitude = 121.5
limit_presets = ["GB21900-2008-T3"]
contacts = [{ name = "王工", role = "环保负责人", phone = "+8613800000001" }]

[[devices]]
mn = "310120EP001W01"
site = "FX-EP-001"
point_kind = "outfall"
point_name_zh = "总排口"
point_name_en = "Main outfall"
kind = "water_analyser"
transport = "hj212"
system_code = "32"
pollutants = ["w20117", "w20116", "w01001"]
reporting_interval_seconds = 30
hj212_password = "123456"
installed_on = 2021-05-01

[[devices]]
mn = "310120EP001G01"
site = "FX-EP-001"
point_kind = "area"
point_name_zh = "药剂库"
point_name_en = "Chemical store"
kind = "gas_detector"
transport = "mqtt"
system_code = "52"
pollutants = ["s02002"]
reporting_interval_seconds = 5

[[limits]]
device = "310120EP001W01"
pollutant = "w20117"
scheme = "discharge"
basis = "day"
direction = "upper"
upper = 0.05
warning_ratio = 0.8
severe_multiple = 3.0
source = "排污许可证"
valid_from = 2026-01-01T00:00:00+08:00

[[limits]]
site = "FX-EP-001"
pollutant = "s02002"
preset = "GBT50493-2019"

[[recipients]]
code = "insp-a"
name = "张伟"
phone = "+8613900000001"
role = "inspector"

[[escalation_chains]]
code = "hm"
name = "Heavy metals"
districts = ["fx"]
industries = ["electroplating"]
categories = ["pollution"]
repeat_interval_seconds = 1800
steps = [{ delay_seconds = 0, recipients = ["insp-a"] }]
"""


def test_valid_registry_parses() -> None:
    reg = parse_registry(VALID, "valid.toml").file
    assert [s.code for s in reg.sites] == ["FX-EP-001"]
    assert len(reg.devices) == 2
    assert reg.limits[0].scope == "device"
    assert reg.limits[1].scope == "site"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            'industry = "electroplating"',
            'industry = "electroplating"\ncolour = "red"',
            "sites[0] (FX-EP-001).colour: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            "latitude = 30.9",
            'latitude = "30.9"',
            "sites[0] (FX-EP-001).latitude: Input should be a valid number",
            id="wrong-type",
        ),
        pytest.param(
            "latitude = 30.9",
            "latitude = 130.9",
            "sites[0] (FX-EP-001).latitude: Input should be less than or equal to 90",
            id="out-of-range",
        ),
        pytest.param(
            'industry = "electroplating"',
            'industry = "mining"',
            "sites[0] (FX-EP-001).industry: Input should be",
            id="bad-enum",
        ),
        pytest.param(
            'name_en = "Shanghai Jia Electroplating Co."\n',
            "",
            "sites[0] (FX-EP-001).name_en: Field required",
            id="missing-key",
        ),
        pytest.param(
            'district = "fx"',
            'district = "nowhere"',
            "sites[0] (FX-EP-001).district: unknown district 'nowhere'",
            id="unknown-district",
        ),
        pytest.param(
            'limit_presets = ["GB21900-2008-T3"]',
            'limit_presets = ["GB0000"]',
            "sites[0] (FX-EP-001).limit_presets: unknown preset 'GB0000'",
            id="unknown-site-preset",
        ),
        pytest.param(
            'site = "FX-EP-001"\npoint_kind = "outfall"',
            'site = "FX-XX-999"\npoint_kind = "outfall"',
            "devices[0] (310120EP001W01).site: unknown site 'FX-XX-999'",
            id="unknown-device-site",
        ),
        pytest.param(
            '"w20117", "w20116"',
            '"w20117", "w99999"',
            "devices[0] (310120EP001W01).pollutants: unknown pollutant 'w99999'",
            id="unknown-pollutant",
        ),
        pytest.param(
            '"w20117", "w20116"',
            '"w20117", "a21026"',
            "devices[0] (310120EP001W01).pollutants: a21026 is a gas parameter, not measured by a water_analyser",
            id="pollutant-of-wrong-kind",
        ),
        pytest.param(
            'hj212_password = "123456"\n',
            "",
            "devices[0] (310120EP001W01): transport 'hj212' needs hj212_password",
            id="hj212-without-password",
        ),
        pytest.param(
            'point_kind = "outfall"',
            'point_kind = "stack"',
            "devices[0] (310120EP001W01): a water_analyser stands at an 'outfall' or 'workshop_outlet' point",
            id="wrong-point-kind",
        ),
        pytest.param(
            'mn = "310120EP001G01"',
            'mn = "310120EP001W01"',
            "devices.mn: '310120EP001W01' appears more than once",
            id="duplicate-mn",
        ),
        pytest.param(
            'mn = "310120EP001W01"',
            'mn = "310120 EP/001"',
            "devices[0] (310120 EP/001).mn: String should match pattern",
            id="mn-not-topic-safe",
        ),
        pytest.param(
            'device = "310120EP001W01"',
            'device = "NOPE"',
            "limits[0] (w20117).device: unknown device 'NOPE'",
            id="limit-unknown-device",
        ),
        pytest.param(
            'device = "310120EP001W01"',
            'device = "310120EP001W01"\nsite = "FX-EP-001"',
            "limits[0] (w20117): give site or device, not both",
            id="limit-site-and-device",
        ),
        pytest.param(
            'source = "排污许可证"\n',
            "",
            "limits[0] (w20117): a limit without preset needs source",
            id="limit-without-source",
        ),
        pytest.param(
            'direction = "upper"\nupper = 0.05',
            'direction = "range"\nupper = 0.05\nlower = 0.1',
            "limits[0] (w20117): lower 0.1 must be below upper 0.05",
            id="limit-inverted-range",
        ),
        pytest.param(
            "valid_from = 2026-01-01T00:00:00+08:00",
            "valid_from = 2026-01-01T00:00:00",
            "limits[0] (w20117): valid_from/valid_to need a UTC offset",
            id="limit-naive-time",
        ),
        pytest.param(
            'preset = "GBT50493-2019"',
            'preset = "GB21900-2008-T3"',
            "limits[1] (s02002).preset: preset 'GB21900-2008-T3' has no limit for s02002",
            id="preset-lacks-pollutant",
        ),
        pytest.param(
            'phone = "+8613900000001"',
            'phone = "13900000001"',
            "recipients[0] (insp-a).phone: String should match pattern",
            id="phone-not-e164",
        ),
        pytest.param(
            'recipients = ["insp-a"]',
            'recipients = ["insp-b"]',
            "escalation_chains[0] (hm).steps[0].recipients: unknown recipient 'insp-b'",
            id="chain-unknown-recipient",
        ),
        pytest.param("version = 1", "version = 2", "version: Input should be 1", id="unsupported-version"),
    ],
)
def test_bad_input_is_refused_with_its_location(old: str, new: str, expected: str) -> None:
    assert old in VALID, f"test case does not apply: {old!r}"
    with pytest.raises(RegistryError) as info:
        parse_registry(VALID.replace(old, new, 1), "case.toml")
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems
    assert str(info.value).startswith("case.toml: ")


def test_toml_syntax_error_names_line() -> None:
    with pytest.raises(RegistryError, match=r"not valid TOML: .*line 3"):
        parse_registry('version = 1\n[[sites]]\ncode = "unterminated\n', "broken.toml")


def test_every_problem_is_reported_at_once() -> None:
    text = VALID.replace('district = "fx"', 'district = "nowhere"').replace(
        'recipients = ["insp-a"]', 'recipients = ["x"]'
    )
    with pytest.raises(RegistryError) as info:
        parse_registry(text)
    assert len(info.value.problems) == 2


def test_presets_reject_unknown_pollutant_and_bad_thresholds() -> None:
    text = """
[[presets]]
id = "P1"
name_zh = "x"
name_en = "x"
source = "x"
scheme = "gas_alarm"
basis = "instant"
limits = [
  { pollutant = "s99999", upper = 1.0, level2_upper = 2.0, confidence = "V" },
]
"""
    with pytest.raises(RegistryError, match="unknown pollutant 's99999'"):
        parse_presets(text)
    with pytest.raises(RegistryError, match="level2_upper 0.5 must be above upper 1.0"):
        parse_presets(text.replace("s99999", "s02001").replace("level2_upper = 2.0", "level2_upper = 0.5"))
    with pytest.raises(RegistryError, match="gas_alarm limits use level2"):
        parse_presets(text.replace("s99999", "s02001").replace("level2_upper = 2.0", "severe_multiple = 3.0"))


def test_shipped_presets_cite_their_sources() -> None:
    from envmon.registry.load import load_presets

    presets = load_presets()
    assert {"GB21900-2008-T2", "GB21900-2008-T3", "GB8978-1996-C1", "GBT50493-2019"} <= set(presets)
    assert {"GB13271-2014-T2-coal", "GB31571-2015-heater", "GB31573-2015", "GB31572-2015", "GB16297-1996-T2"} <= set(
        presets
    )
    assert all(p.source.startswith(("GB ", "GB/T ")) for p in presets.values())
    t3 = presets["GB21900-2008-T3"]
    assert t3.source == "GB 21900-2008 表3"
    assert t3.row("w20117").upper == 0.1  # type: ignore[union-attr]
    assert presets["GBT50493-2019"].row("s01001").level2_upper == 50.0  # type: ignore[union-attr]
    ph = presets["GB21900-2008-T2"].row("w01001")
    assert (ph.direction, ph.lower, ph.upper) == ("range", 6.0, 9.0)  # type: ignore[union-attr]


RANGED = VALID.replace(
    'installed_on = 2021-05-01',
    'installed_on = 2021-05-01\nmeasuring_ranges = { w20117 = { lower = 0.0, upper = 0.5 }, w01001 = { upper = 14.0 } }',
)


def test_measuring_ranges_parse_per_channel() -> None:
    [water, _] = parse_registry(RANGED).file.devices
    assert {c: (r.lower, r.upper) for c, r in water.measuring_ranges.items()} == {
        "w20117": (0.0, 0.5), "w01001": (None, 14.0)}


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        pytest.param("{ w20117 = { lower = 1.0, upper = 0.5 } }", "lower 1.0 must be below upper 0.5", id="reversed"),
        pytest.param("{ w20111 = { upper = 5.0 } }", "measuring_ranges names pollutants the device does not measure: w20111",
                     id="unmeasured-pollutant"),
        pytest.param("{ w20117 = { top = 5.0 } }", "unknown key", id="unknown-key"),
    ],
)
def test_bad_measuring_ranges_are_refused(ranges: str, expected: str) -> None:
    text = VALID.replace("installed_on = 2021-05-01", f"installed_on = 2021-05-01\nmeasuring_ranges = {ranges}")
    with pytest.raises(RegistryError) as err:
        parse_registry(text)
    assert expected in str(err.value)
