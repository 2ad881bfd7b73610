"""SMS rendering in zh-CN and English, the first line within one segment, and segment counting."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.lifecycle import AlertRecord
from alerts.model import WHOLE_DEVICE, AlertKey, Category, DeviceSpec, Severity
from alerts.notify.dedup import NotifyReason
from alerts.notify.render import (
    PART_UNITS,
    exceedance_multiple,
    format_number,
    local_time,
    render_group_sms,
    render_reply_answer,
    render_sms,
    segment_count,
    short_site_name,
    sms_encoding,
    sms_units,
)
from envmon.catalogue import Locale

SHANGHAI = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 22, 6, 3, tzinfo=UTC)  # 14:03 in Shanghai
LINK = "https://envmon.example.cn/r/k3J9xQ2mP7aB"
PLANT = DeviceSpec(
    7, "MN0001", "FX-EP-001", "上海奉贤鑫达电镀有限公司", "Shanghai Fengxian Xinda Electroplating Co., Ltd.", "fengxian",
    "electroplating", "water_analyser", "1#总排口", "Outfall 1", ("w20116",), 60,
)


def alert(pollutant: str = "w20116", rule: str = "hour_avg", severity: Severity = "exceedance", value: float | None = 1.5,
          limit: float | None = 1.0, category: Category = "pollution", code: str = "CE5Y5Q",
          **detail: object) -> AlertRecord:
    return AlertRecord(
        id=41, code=code, key=AlertKey(7, pollutant, rule), category=category, severity=severity, state="open",
        opened_at=T, first_breach_at=T, unacknowledged_since=T, last_value=value, limit_value=limit, detail=detail,
    )


def render(a: AlertRecord, locale: Locale, reason: NotifyReason = "new", device: DeviceSpec = PLANT) -> str:
    return render_sms(a, device, locale=locale, zone=SHANGHAI, link=LINK, reason=reason)


@pytest.mark.parametrize(
    ("record", "locale", "expected_first_line"),
    [
        pytest.param(alert(), "zh-CN", "【超标】上海奉贤鑫达电镀有限公司 1#总排口 总铬小时均值 1.5mg/L 限值1,为限值的1.5倍 11-22 14:03", id="zh-exceedance"),
        pytest.param(alert(), "en", "EXCEEDANCE Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: Total chromium 1-h avg 1.5 mg/L, limit 1 (1.5x the limit), 22 Nov 14:03", id="en-exceedance"),
        # A limit set by the plant's permit (stricter than the standard) is named as the permit's (issue 19).
        pytest.param(alert(limit_from="permit"), "zh-CN", "【超标】上海奉贤鑫达电镀有限公司 1#总排口 总铬小时均值 1.5mg/L 许可限值1,为限值的1.5倍 11-22 14:03", id="zh-permit-limit"),
        pytest.param(alert(limit_from="permit"), "en", "EXCEEDANCE Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: Total chromium 1-h avg 1.5 mg/L, permit limit 1 (1.5x the limit), 22 Nov 14:03", id="en-permit-limit"),
        pytest.param(alert("w20111", "day_avg", "severe", 0.05, 0.01), "zh-CN", "【严重超标】上海奉贤鑫达电镀有限公司 1#总排口 总汞日均值 0.05mg/L 限值0.01,为限值的5.0倍 11-22 14:03", id="zh-severe-mercury"),
        # Severe starts AT 3x (以上 includes the number); the words say the same multiple the threshold uses.
        pytest.param(alert("w20115", "day_avg", "severe", 0.03, 0.01), "zh-CN", "【严重超标】上海奉贤鑫达电镀有限公司 1#总排口 总镉日均值 0.03mg/L 限值0.01,为限值的3.0倍 11-22 14:03", id="zh-severe-at-exactly-3x"),
        pytest.param(alert("w20115", "day_avg", "severe", 0.03, 0.01), "en", "SEVERE Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: Total cadmium daily avg 0.03 mg/L, limit 0.01 (3.0x the limit), 22 Nov 14:03", id="en-severe-at-exactly-3x"),
        pytest.param(alert(severity="warning", value=0.85, limit=1.0, warning_line=0.8), "zh-CN", "【预警】上海奉贤鑫达电镀有限公司 1#总排口 总铬小时均值 0.85mg/L 预警线0.8(限值1) 11-22 14:03", id="zh-warning-line"),
        pytest.param(alert(severity="warning", value=0.85, limit=1.0, warning_line=0.8), "en", "WARNING Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: Total chromium 1-h avg 0.85 mg/L, warning line 0.8 (limit 1), 22 Nov 14:03", id="en-warning-line"),
        # A warning below its limit is not a lower limit (the old text said 下限 for any value under the number).
        pytest.param(alert(severity="warning", value=0.7, limit=1.0, warning_line=0.8, side="upper"), "zh-CN", "【预警】上海奉贤鑫达电镀有限公司 1#总排口 总铬小时均值 0.7mg/L 预警线0.8(限值1) 11-22 14:03", id="zh-warning-after-the-value-fell-is-no-lower-limit"),
        pytest.param(alert("w01001", "instant", "exceedance", 5.2, 6.0, side="lower"), "zh-CN", "【超标】上海奉贤鑫达电镀有限公司 1#总排口 pH值实时值 5.2 下限6 11-22 14:03", id="zh-ph-below-range"),
        pytest.param(alert("w01001", "instant", "exceedance", 5.2, 6.0, side="lower"), "en", "EXCEEDANCE Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: pH reading 5.2, lower limit 6, 22 Nov 14:03", id="en-ph-below-range"),
        pytest.param(alert("s02001", "gas", "level1", 8.2, 6.6, "safety"), "zh-CN", "【一级报警】上海奉贤鑫达电镀有限公司 1#总排口 硫化氢 8.2ppm 报警设定值6.6 11-22 14:03", id="zh-gas-set-point"),
        # A latched gas alarm whose value fell below the set point still names the set point, not a lower limit.
        pytest.param(alert("s02001", "gas", "level1", 2.0, 6.6, "safety", side="upper"), "zh-CN", "【一级报警】上海奉贤鑫达电镀有限公司 1#总排口 硫化氢 2ppm 报警设定值6.6 11-22 14:03", id="zh-latched-gas-below-set-point"),
        pytest.param(alert("s02001", "gas", "level2", 14.0, 13.2, "safety"), "en", "LEVEL 2 ALARM Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: Hydrogen sulphide (H2S) 14 ppm, alarm set point 13.2, 22 Nov 14:03", id="en-gas-level2"),
        pytest.param(alert("w20116", "instant", "warning", 1.5, 1.0, prewarning_of="day"), "zh-CN", "【预警】上海奉贤鑫达电镀有限公司 1#总排口 总铬实时值 1.5mg/L 超日均限值1 11-22 14:03", id="zh-instant-over-daily-limit-is-a-pre-warning"),
        pytest.param(alert("w20116", "instant", "warning", 1.5, 1.0, prewarning_of="day"), "en", "WARNING Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: Total chromium reading 1.5 mg/L, above the daily-mean limit 1, 22 Nov 14:03", id="en-instant-over-daily-limit-is-a-pre-warning"),
        pytest.param(alert("w20116", "instant", "warning", 0.5, 0.5, prewarning_of="day", over_range=True), "zh-CN", "【预警】上海奉贤鑫达电镀有限公司 1#总排口 总铬实时值 ≥0.5mg/L(超量程) 日均限值0.5 11-22 14:03", id="zh-over-range-reads-at-least-full-scale"),
        pytest.param(alert("w20116", "instant", "warning", 0.85, 1.0, prewarning_of="day", warning_line=0.8), "en", "WARNING Shanghai Fengxian Xinda Electroplating, Outfall 1: Total chromium reading 0.85 mg/L, warning line 0.8 (daily-mean limit 1), 22 Nov 14:03", id="en-pre-warning-below-the-limit-names-the-mean-limit"),
        pytest.param(alert("w20116", "instant", "exceedance", 0.5, 0.4, over_range=True), "en", "EXCEEDANCE Shanghai Fengxian Xinda Electroplating, Outfall 1: Total chromium reading >=0.5 mg/L (over range), limit 0.4 (1.25x the limit), 22 Nov 14:03", id="en-over-range-stays-gsm-7"),
        pytest.param(alert("w20116", "day_avg", "exceedance", 1.04, 1.0, early=True, hours_left=2), "zh-CN", "【超标】奉贤… 1#总排口 总铬日均值 ≥1.04mg/L 限值1,为限值的1.04倍 日均值已确定超标(余2小时按0计仍超) 11-22 14:03", id="zh-early-daily-exceedance-says-why"),
        pytest.param(alert("w20116", "day_avg", "exceedance", 1.04, 1.0, early=True, hours_left=2), "en", "EXCEEDANCE Sh..., Outfall 1: Total chromium daily avg >=1.04 mg/L, limit 1 (1.04x the limit), daily mean certain to exceed (even at 0 for the 2 h left), 22 Nov 14:03", id="en-early-daily-exceedance-says-why"),
        pytest.param(alert(WHOLE_DEVICE, "silent", "fault", None, None, "device"), "zh-CN", "【设备异常】上海奉贤鑫达电镀有限公司 1#总排口 数据中断 11-22 14:03", id="zh-silent-device"),
        pytest.param(alert(WHOLE_DEVICE, "flag", "fault", None, None, "device", flags={"w20116": "C", "w20117": "C", "w20115": "C", "w20111": "C", "w00000": "M"}), "zh-CN", "【设备异常】奉贤鑫达电镀 1#总排口 设备状态异常 校准C:总汞,总镉,总铬等4项;维护M:废水流量 11-22 14:03", id="zh-one-device-fault-lists-its-pollutants"),
        pytest.param(alert(WHOLE_DEVICE, "flag", "fault", None, None, "device", flags={"w20116": "P"}), "en", "DEVICE FAULT Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: abnormal device status: power failure (P): Total chromium, 22 Nov 14:03", id="en-legacy-flag-carries-the-raw-letter"),
        pytest.param(alert("w20116", "constant", "fault", 0.3, None, "device"), "en", "DEVICE FAULT Shanghai Fengxian Xinda Electroplating Co., Ltd., Outfall 1: Total chromium value stuck, 22 Nov 14:03", id="en-stuck-sensor"),
    ],
)
def test_first_line_of_facts(record: AlertRecord, locale: Locale, expected_first_line: str) -> None:
    assert render(record, locale).splitlines()[0] == expected_first_line


@pytest.mark.parametrize(
    ("locale", "second_line"),
    [
        pytest.param("zh-CN", '告警码CE5Y5Q。回复"1 CE5Y5Q"确认,2误报,3设备故障,4立案', id="zh"),
        pytest.param("en", 'Code CE5Y5Q. Reply "1 CE5Y5Q" to confirm; 2 false alarm, 3 device fault, 4 enforcement case', id="en"),
    ],
)
def test_code_reply_help_and_link_follow_the_facts(locale: Locale, second_line: str) -> None:
    lines = render(alert(), locale).splitlines()
    assert lines[1] == second_line
    assert lines[2].endswith(LINK)


@pytest.mark.parametrize(
    ("reason", "locale", "prefix"),
    [
        pytest.param("reminder", "zh-CN", "[未确认提醒]【超标】", id="zh-reminder"),
        pytest.param("escalation", "zh-CN", "[升级]【超标】", id="zh-escalation"),
        pytest.param("severity", "en", "[Worse] EXCEEDANCE", id="en-severity"),
        pytest.param("reminder", "en", "[Reminder] EXCEEDANCE", id="en-reminder"),
    ],
)
def test_reason_prefix(reason: NotifyReason, locale: Locale, prefix: str) -> None:
    assert render(alert(), locale, reason).startswith(prefix)


def test_resolution_notice() -> None:
    resolved = replace(alert(), state="resolved", resolved_at=datetime(2026, 11, 22, 7, 0, tzinfo=UTC))
    assert render(resolved, "zh-CN", "resolved") == "【已解除】奉贤鑫达电镀 1#总排口 总铬 11-22 15:00 告警码CE5Y5Q"
    assert render(resolved, "en", "resolved").startswith("RESOLVED Shanghai Fengxian Xinda Electroplating, Outfall 1")


LONG_PLANT = replace(
    PLANT, site_name_zh="上海市奉贤区金海工业园区华东精细化学品与电子材料股份有限公司", point_name_zh="3#车间排放口",
    site_name_en="Shanghai East China Fine Chemicals and Electronic Materials Industrial Park Holdings Co., Ltd.",
    point_name_en="Workshop 3 outlet (chromium line)",
)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("reason", ["new", "reminder", "escalation"])
def test_first_line_fits_the_first_segment_even_for_long_names(locale: Locale, reason: NotifyReason) -> None:
    first = render(alert(), locale, reason, LONG_PLANT).splitlines()[0]
    assert sms_units(first) <= PART_UNITS[sms_encoding(first)]
    assert "总铬" in first or "Total chromium" in first  # the facts survive, the name is what shrinks


def test_long_chinese_name_is_shortened_before_it_is_cut() -> None:
    first = render(alert(), "zh-CN", device=LONG_PLANT).splitlines()[0]
    assert first.startswith("【超标】金海工业园区华东精细") and "…" in first


@pytest.mark.parametrize(
    ("name", "short"),
    [
        pytest.param("上海奉贤鑫达电镀有限公司", "奉贤鑫达电镀", id="city-and-legal-form"),
        pytest.param("上海市奉贤区某某化工股份有限公司", "某某化工", id="city-district"),
        pytest.param("Shanghai Xinda Electroplating Co., Ltd.", "Shanghai Xinda Electroplating", id="english-legal-form"),
        pytest.param("有限公司", "有限公司", id="never-empty"),
    ],
)
def test_short_site_name(name: str, short: str) -> None:
    assert short_site_name(name) == short


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        pytest.param("", "GSM-7", 0, 1, id="empty"),
        pytest.param("a" * 160, "GSM-7", 160, 1, id="gsm-160-one"),
        pytest.param("a" * 161, "GSM-7", 161, 2, id="gsm-161-two"),
        pytest.param("a" * 306, "GSM-7", 306, 2, id="gsm-306-two"),
        pytest.param("a" * 307, "GSM-7", 307, 3, id="gsm-307-three"),
        pytest.param("€" * 80, "GSM-7", 160, 1, id="gsm-extension-two-septets"),
        pytest.param("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2, id="extension-not-split"),
        pytest.param("a" * 153 + "[" + "a" * 152, "GSM-7", 307, 3, id="extension-at-part-boundary"),
        pytest.param("é" * 10, "GSM-7", 10, 1, id="gsm-accent"),
        pytest.param("超" * 70, "UCS-2", 70, 1, id="ucs2-70-one"),
        pytest.param("超" * 71, "UCS-2", 71, 2, id="ucs2-71-two"),
        pytest.param("超" * 134, "UCS-2", 134, 2, id="ucs2-134-two"),
        pytest.param("超" * 135, "UCS-2", 135, 3, id="ucs2-135-three"),
        pytest.param("a" * 159 + "超", "UCS-2", 160, 3, id="one-chinese-char-forces-ucs2"),
        pytest.param("😀" * 35, "UCS-2", 70, 1, id="astral-surrogate-pairs"),
        pytest.param("a" * 66 + "😀" + "a", "UCS-2", 69, 1, id="astral-fits-single"),
        pytest.param("a" * 66 + "😀" + "a" * 5, "UCS-2", 73, 2, id="surrogate-pair-not-split"),
        pytest.param("mg/m³", "UCS-2", 5, 1, id="superscript-is-not-gsm"),
    ],
)
def test_segment_counting(text: str, encoding: str, units: int, segments: int) -> None:
    assert (sms_encoding(text), sms_units(text), segment_count(text)) == (encoding, units, segments)


def test_typical_messages_take_few_segments() -> None:
    assert segment_count(render(alert(), "en")) == 2
    assert segment_count(render(alert(), "zh-CN")) == 3


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(1.5, "1.5", id="one-decimal"), pytest.param(1.0, "1", id="integer"),
        pytest.param(0.005, "0.005", id="small-limit"), pytest.param(0.000123, "0.000123", id="no-exponent"),
        pytest.param(1234.5, "1234", id="half-to-even-as-gb-t-8170"), pytest.param(1235.5, "1236", id="half-to-even-up"), pytest.param(0.0, "0", id="zero"),
        pytest.param(-0.25, "-0.25", id="negative"), pytest.param(12.345, "12.3", id="three-significant"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "limit", "multiple"),
    [pytest.param(1.5, 1.0, 0.5, id="half-over"), pytest.param(0.05, 0.01, 4.0, id="five-times-is-4-over"),
     pytest.param(1.0, 1.0, 0.0, id="at-limit")],
)
def test_exceedance_multiple_follows_chinese_practice(value: float, limit: float, multiple: float) -> None:
    assert exceedance_multiple(value, limit) == pytest.approx(multiple)


@pytest.mark.parametrize(
    ("zone", "locale", "text"),
    [
        pytest.param("Asia/Shanghai", "zh-CN", "11-22 14:03", id="shanghai-zh"),
        pytest.param("Asia/Shanghai", "en", "22 Nov 14:03", id="shanghai-en"),
        pytest.param("UTC", "en", "22 Nov 06:03", id="utc"),
        pytest.param("Asia/Shanghai", "zh-CN", "11-23 01:30", id="crosses-local-midnight"),
    ],
)
def test_local_time(zone: str, locale: Locale, text: str) -> None:
    time = T if "01:30" not in text else datetime(2026, 11, 22, 17, 30, tzinfo=UTC)
    assert local_time(time, ZoneInfo(zone), locale) == text


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        pytest.param("zh-CN", [
            "【严重超标×2】奉贤鑫达电镀 11-22 14:03",
            "1#总排口 总铬小时均值 1.5mg/L 限值1,为限值的1.5倍 码CE5Y5Q",
            "1#总排口 总镉实时值 0.05mg/L 限值0.01,为限值的5.0倍 码PT9W8J",
            '回复"1 告警码"确认,2误报,3设备故障,4立案',
            "详情 " + LINK,
        ], id="zh"),
        pytest.param("en", [
            "SEVERE x2 Shanghai Fengxian Xinda Electroplating, 22 Nov 14:03",
            "Outfall 1 Total chromium 1-h avg 1.5 mg/L, limit 1 (1.5x the limit) code CE5Y5Q",
            "Outfall 1 Total cadmium reading 0.05 mg/L, limit 0.01 (5.0x the limit) code PT9W8J",
            'Reply "1 <code>" to confirm; 2 false alarm, 3 device fault, 4 enforcement case',
            "Report: " + LINK,
        ], id="en"),
    ],
)
def test_grouped_sms_for_several_alerts_of_one_site(locale: Locale, expected: list[str]) -> None:
    second = alert("w20115", "instant", "severe", 0.05, 0.01, code="PT9W8J")
    text = render_group_sms([(alert(), PLANT), (second, PLANT)], locale=locale, zone=SHANGHAI, link=LINK)
    assert text.splitlines() == expected


def test_group_of_one_is_the_single_sms() -> None:
    single = render_group_sms([(alert(), PLANT)], locale="en", zone=SHANGHAI, link=LINK)
    assert single == render(alert(), "en")


@pytest.mark.parametrize(
    ("outcome", "disposition", "locale", "text"),
    [
        pytest.param("acknowledged", "confirmed", "zh-CN", "已确认告警CE5Y5Q(确认超标),谢谢。", id="zh-ack"),
        pytest.param("resolved", "false_alarm", "en", "Alert CE5Y5Q acknowledged (false alarm) and resolved.", id="en-ack-resolves"),
        pytest.param("already", None, "zh-CN", "告警CE5Y5Q此前已确认,无需重复回复。", id="zh-already"),
        pytest.param("not_authorised", None, "en", "This number was not sent alert CE5Y5Q; it cannot acknowledge it.", id="en-stranger"),
        pytest.param("unknown", None, "zh-CN", '未识别的回复。请回复"1 告警码"确认,2误报,3设备故障,4立案。', id="zh-help"),
    ],
)
def test_reply_answers(outcome: str, disposition: str | None, locale: Locale, text: str) -> None:
    assert render_reply_answer(outcome, code="CE5Y5Q", disposition=disposition, locale=locale) == text  # type: ignore[arg-type]


def test_english_over_range_and_early_words_stay_in_gsm_7() -> None:
    for record in (alert("w20116", "instant", "exceedance", 0.5, 0.4, over_range=True),
                   alert("w20116", "day_avg", "exceedance", 1.04, 1.0, early=True, hours_left=2)):
        assert sms_encoding(render(record, "en").splitlines()[0]) == "GSM-7"
