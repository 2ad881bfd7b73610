"""SMS text for people, in zh-CN and English, and SMS segment counting (GSM-7 and UCS-2).

Layout: line 1 holds the facts (reason, severity, site, point, pollutant, value, limit and multiple, local
time) and is kept within the first segment (67 UCS-2 / 153 GSM-7 units of a multi-part SMS) by shortening
the site name if needed; line 2 the alert code and how to acknowledge by reply; line 3 the report link.
Reply digits: 1 confirmed, 2 false alarm, 3 device fault, 4 enforcement case (alerts.notify.callbacks parses them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from alerts.lifecycle import AlertRecord
from alerts.model import WHOLE_DEVICE, DeviceSpec
from alerts.notify.dedup import NotifyReason
from envmon.catalogue import Locale, load_catalogue
from envmon.domain import SEVERITY_RANK
from envmon.errors import CatalogueError

# --- segments ---------------------------------------------------------------------------------------------
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")  # two septets each (escape + character)
SINGLE_UNITS = {"GSM-7": 160, "UCS-2": 70}
# A multi-part SMS spends 6 bytes per part on the concatenation header.
PART_UNITS = {"GSM-7": 153, "UCS-2": 67}


def sms_encoding(text: str) -> str:
    """'GSM-7' if every character is in the GSM 03.38 alphabet (basic or extension), else 'UCS-2'."""
    return "GSM-7" if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else "UCS-2"


def _char_units(c: str, encoding: str) -> int:
    if encoding == "GSM-7":
        return 2 if c in GSM7_EXTENSION else 1
    return 2 if ord(c) > 0xFFFF else 1  # outside the BMP: a UTF-16 surrogate pair


def sms_units(text: str) -> int:
    """Length in the encoding's units: septets for GSM-7, UTF-16 code units for UCS-2."""
    encoding = sms_encoding(text)
    return sum(_char_units(c, encoding) for c in text)


def segment_count(text: str) -> int:
    """How many SMS segments the text takes (a character's units are never split across parts)."""
    encoding = sms_encoding(text)
    if sms_units(text) <= SINGLE_UNITS[encoding]:
        return 1
    parts, used = 1, 0
    for c in text:
        units = _char_units(c, encoding)
        if used + units > PART_UNITS[encoding]:
            parts, used = parts + 1, 0
        used += units
    return parts


# --- words ------------------------------------------------------------------------------------------------
SEVERITY_WORDS: dict[str, tuple[str, str]] = {
    "warning": ("预警", "WARNING"), "exceedance": ("超标", "EXCEEDANCE"), "severe": ("严重超标", "SEVERE"),
    "level1": ("一级报警", "LEVEL 1 ALARM"), "level2": ("二级报警", "LEVEL 2 ALARM"),
    "fault": ("设备异常", "DEVICE FAULT"),
}
REASON_PREFIX: dict[str, tuple[str, str]] = {
    "new": ("", ""), "escalation": ("[升级]", "[Escalated] "), "reminder": ("[未确认提醒]", "[Reminder] "),
    "severity": ("[加重]", "[Worse] "), "resolved": ("", ""), "none": ("", ""),
}
BASIS_WORDS: dict[str, tuple[str, str]] = {
    "instant": ("实时值", "reading"), "hour_avg": ("小时均值", "1-h avg"), "day_avg": ("日均值", "daily avg"),
    "gas": ("", ""),
}
DEVICE_RULE_WORDS: dict[str, tuple[str, str]] = {
    "silent": ("数据中断", "no data"), "flag": ("设备状态异常", "abnormal device status"),
    "zero_flow": ("有流量但浓度为零", "zero value while flow runs"), "constant": ("数值长时间不变", "value stuck"),
    "negative": ("出现负值", "negative value"), "seq_gap": ("数据缺失未补传", "data missing after resend"),
    "manual": ("持续人工录入数据(S)", "manually entered data (S) persists"),
    "implausible": ("数值超出仪器量程", "value outside the measuring range"),
}
# HJ 212 data flags as people name them; any other letter is shown as itself.
FLAG_WORDS: dict[str, tuple[str, str]] = {
    "F": ("停运", "stopped"), "M": ("维护", "maintenance"), "D": ("故障", "fault"), "C": ("校准", "calibration"),
    "T": ("超量程", "over range"), "B": ("通讯异常", "communication fault"), "S": ("人工录入", "manual entry"),
    "P": ("断电", "power failure"),
}
# The line a value is measured against, by what kind of threshold it is (issue 16 finding 12).
THRESHOLD_WORDS: dict[str, tuple[str, str]] = {
    "limit": ("限值", "limit"), "lower": ("下限", "lower limit"), "warning_line": ("预警线", "warning line"),
    "set_point": ("报警设定值", "alarm set point"),
    # A limit set by the plant's discharge permit, stricter than the standard (detail "limit_from").
    "permit_limit": ("许可限值", "permit limit"),
}
PREWARNING_WORDS: dict[str, tuple[str, str]] = {
    "day": ("超日均限值", "above the daily-mean limit"), "hour": ("超小时均值限值", "above the hourly-mean limit"),
}
MEAN_LIMIT_WORDS: dict[str, tuple[str, str]] = {
    "day": ("日均限值", "daily-mean limit"), "hour": ("小时均值限值", "hourly-mean limit"),
}
OVER_RANGE_WORDS = ("超量程", "over range")
EARLY_DAY_WORDS = ("日均值已确定超标", "daily mean certain to exceed")
UNIT_DISPLAY: dict[str, tuple[str, str]] = {
    "mg/m3": ("mg/m³", "mg/m3"), "degC": ("°C", " degC"), "pH": ("", ""), "%vol": ("%vol", "%vol"),
    "m3/s": ("m³/s", "m3/s"),
}
REPLY_HELP: dict[str, str] = {
    "zh-CN": '告警码{code}。回复"1 {code}"确认,2误报,3设备故障,4立案',
    "en": 'Code {code}. Reply "1 {code}" to confirm; 2 false alarm, 3 device fault, 4 enforcement case',
}
GROUP_REPLY_HELP: dict[str, str] = {
    "zh-CN": '回复"1 告警码"确认,2误报,3设备故障,4立案',
    "en": 'Reply "1 <code>" to confirm; 2 false alarm, 3 device fault, 4 enforcement case',
}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LINK_WORD = {"zh-CN": "详情 ", "en": "Report: "}
# Legal-form suffixes people do not need to recognise a plant, longest first.
_SITE_SUFFIXES = re.compile(r"(股份有限公司|有限责任公司|有限公司|公司|,? ?Co\.,? ?Ltd\.?|,? ?Ltd\.?|,? ?Co\.)$")
_SITE_PLACE_PREFIX = re.compile(r"^(上海市?|[\u4e00-\u9fff]{2,3}[省市区县])+")


def _word(table: dict[str, tuple[str, str]], key: str, locale: Locale) -> str:
    zh, en = table.get(key, (key, key))
    return zh if locale == "zh-CN" else en


def format_number(value: float) -> str:
    """Three significant digits, no exponent, no trailing zeros (1.5, 0.005, 1234); half to even as GB/T 8170."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def exceedance_multiple(value: float, limit: float) -> float:
    """超标倍数 as Chinese practice writes it: (value - limit) / limit."""
    return (value - limit) / limit


def limit_ratio_text(value: float, limit: float) -> str:
    """C/L as written numbers divide (no float artefact), cut (never rounded up) to two decimals: a value
    below 3x the limit never reads '3.0'; at least one decimal ('3.0', '1.05')."""
    ratio = (Decimal(repr(value)) / Decimal(repr(limit))).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    text = f"{ratio:f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def local_time(time: datetime, zone: ZoneInfo, locale: Locale) -> str:
    """A time as people read it in the configured zone (MM-DD HH:MM, or 22 Nov 14:03)."""
    local = time.astimezone(zone)
    if locale == "zh-CN":
        return local.strftime("%m-%d %H:%M")
    return f"{local.day:02d} {MONTHS_EN[local.month - 1]} {local:%H:%M}"  # not %b: that follows the C locale


def pollutant_name(code: str, locale: Locale) -> str:
    """The catalogue's name of a pollutant in this locale (the code itself if unknown)."""
    try:
        return load_catalogue().get(code).name(locale)
    except CatalogueError:
        return code


def _unit(code: str, locale: Locale) -> str:
    try:
        unit = load_catalogue().get(code).canonical_unit
    except CatalogueError:
        return ""
    zh, en = UNIT_DISPLAY.get(unit, (unit, " " + unit))
    return zh if locale == "zh-CN" else en


# --- facts ------------------------------------------------------------------------------------------------
def _measurement(alert: AlertRecord, locale: Locale) -> str:
    """'总铬小时均值 1.5mg/L 限值1,为限值的1.5倍' / 'Total chromium 1-h avg 1.5 mg/L, limit 1 (1.5x the limit)'."""
    pollutant = alert.key.pollutant
    if alert.category == "device" or alert.last_value is None:
        return _device_facts(alert, locale)
    basis = _word(BASIS_WORDS, alert.key.rule, locale)
    name = pollutant_name(pollutant, locale) + ("" if not basis else ("" if locale == "zh-CN" else " ") + basis)
    over_range = bool(alert.detail.get("over_range"))
    # An over-range reading, or the lowest daily mean still possible, is a floor: the true value is at least it.
    at_least = over_range or (alert.key.rule == "day_avg" and bool(alert.detail.get("early")))
    floor_sign = ("≥" if locale == "zh-CN" else ">=") if at_least else ""  # "≥" is not GSM-7: English SMS keep it
    value = floor_sign + format_number(alert.last_value) + _unit(pollutant, locale)
    if over_range:
        value += f"({OVER_RANGE_WORDS[0]})" if locale == "zh-CN" else f" ({OVER_RANGE_WORDS[1]})"
    return f"{name} {value}{_limit_text(alert, locale)}{_early_text(alert, locale)}"


def _device_facts(alert: AlertRecord, locale: Locale) -> str:
    """'设备状态异常 校准C:总铬,六价铬' / 'abnormal device status: calibration (C): total chromium, ...'."""
    pollutant = alert.key.pollutant
    thing = "" if pollutant == WHOLE_DEVICE else pollutant_name(pollutant, locale) + " "
    words = thing + _word(DEVICE_RULE_WORDS, alert.key.rule, locale)
    flags = alert.detail.get("flags")
    if not isinstance(flags, dict) or not flags:
        return words
    by_flag: dict[str, list[str]] = {}
    for code, letter in sorted(flags.items()):
        by_flag.setdefault(str(letter), []).append(pollutant_name(code, locale))
    zh = locale == "zh-CN"
    parts = [_flag_group(letter, names, zh) for letter, names in sorted(by_flag.items())]
    return words + (" " + ";".join(parts) if zh else ": " + "; ".join(parts))


def _flag_group(letter: str, names: list[str], zh: bool) -> str:
    """One flag and the pollutants in it, at most three named."""
    word = _word(FLAG_WORDS, letter, "zh-CN" if zh else "en") if letter in FLAG_WORDS else ""
    more = len(names) - 3
    if zh:
        listed = ",".join(names[:3]) + (f"等{len(names)}项" if more > 0 else "")
        return f"{word}{letter}:{listed}"
    listed = ", ".join(names[:3]) + (f" and {more} more" if more > 0 else "")
    return f"{word} ({letter}): {listed}" if word else f"flag {letter}: {listed}"


def _kind_of_threshold(alert: AlertRecord) -> str:
    """Which line the value is read against: a gas set point, a lower limit, or a discharge limit."""
    if alert.category == "safety":
        return "set_point"
    return "lower" if alert.detail.get("side") == "lower" else "limit"


def _limit_text(alert: AlertRecord, locale: Locale) -> str:
    """The threshold the value is read against, named for what it is, and above a limit the multiple C/L."""
    value, limit = alert.last_value, alert.limit_value
    if value is None or limit is None or limit == 0:
        return ""
    zh = locale == "zh-CN"
    kind = _kind_of_threshold(alert)
    prewarning = alert.detail.get("prewarning_of")
    warning_line = alert.detail.get("warning_line")
    number = format_number(limit)
    if isinstance(prewarning, str) and prewarning in PREWARNING_WORDS and kind == "limit" and value > limit:
        words = _word(PREWARNING_WORDS, prewarning, locale)
        return f" {words}{number}" if zh else f", {words} {number}"
    label = _word(THRESHOLD_WORDS, "permit_limit" if kind == "limit" and alert.detail.get("limit_from") == "permit"
                  else kind, locale)
    if isinstance(prewarning, str) and prewarning in PREWARNING_WORDS and kind == "limit":
        label = _word(MEAN_LIMIT_WORDS, prewarning, locale)  # the line is a mean's limit, not the reading's
    if alert.severity == "warning" and kind == "limit" and isinstance(warning_line, (int, float)):
        line = _word(THRESHOLD_WORDS, "warning_line", locale) + ("" if zh else " ") + format_number(warning_line)
        return f" {line}({label}{number})" if zh else f", {line} ({label} {number})"
    with_ratio = kind == "limit" and alert.severity in ("exceedance", "severe") and value > limit
    ratio = limit_ratio_text(value, limit) if with_ratio else ""
    if zh:
        return f" {label}{number}" + (f",为限值的{ratio}倍" if ratio else "")
    return f", {label} {number}" + (f" ({ratio}x the limit)" if ratio else "")


def _early_text(alert: AlertRecord, locale: Locale) -> str:
    """Why a daily exceedance is announced before the day ends: the hours left cannot bring the mean down."""
    hours_left = alert.detail.get("hours_left")
    if alert.key.rule != "day_avg" or not alert.detail.get("early") or not isinstance(hours_left, int):
        return ""
    if locale == "zh-CN":
        return f" {EARLY_DAY_WORDS[0]}(余{hours_left}小时按0计仍超)"
    return f", {EARLY_DAY_WORDS[1]} (even at 0 for the {hours_left} h left)"


def short_site_name(name: str) -> str:
    """A plant's name without its legal form and leading place names ('鑫达电镀' for 上海奉贤鑫达电镀有限公司)."""
    short = _SITE_SUFFIXES.sub("", name).strip() or name
    stripped = _SITE_PLACE_PREFIX.sub("", short)
    return stripped if len(stripped) >= 2 else short


def _fit(build: Callable[[str], str], site: str, budget: int) -> str:
    """The longest first line within `budget` units: full site name, short name, then a cut short name."""
    for candidate in (site, short_site_name(site)):
        line = build(candidate)
        if sms_units(line) <= budget:
            return line
    short = short_site_name(site)
    ellipsis = "…" if sms_encoding(line) == "UCS-2" else "..."  # "…" is not GSM-7: it would double the cost
    while len(short) > 2 and sms_units(line) > budget:
        short = short[:-1]
        line = build(short.rstrip() + ellipsis)
    return line


def _first_line(alert: AlertRecord, device: DeviceSpec, locale: Locale, zone: ZoneInfo, reason: NotifyReason) -> str:
    prefix = _word(REASON_PREFIX, reason, locale)
    severity = _word(SEVERITY_WORDS, alert.severity, locale)
    point = device.point_name_zh if locale == "zh-CN" else device.point_name_en
    facts = _measurement(alert, locale)
    when = local_time(alert.first_breach_at, zone, locale)
    site = device.site_name_zh if locale == "zh-CN" else device.site_name_en

    def build(name: str) -> str:
        if locale == "zh-CN":
            return f"{prefix}【{severity}】{name} {point} {facts} {when}"
        return f"{prefix}{severity} {name}, {point}: {facts}, {when}"

    return _fit(build, site, _budget(build(site)))


def _budget(text: str) -> int:
    return PART_UNITS[sms_encoding(text)]


def render_sms(
    alert: AlertRecord, device: DeviceSpec, *, locale: Locale, zone: ZoneInfo, link: str | None,
    reason: NotifyReason = "new",
) -> str:
    """The SMS about one alert: facts, code and reply instructions, report link."""
    if reason == "resolved":
        return render_resolved_sms(alert, device, locale=locale, zone=zone)
    code = alert.code or "?"
    lines = [_first_line(alert, device, locale, zone, reason), REPLY_HELP[locale].format(code=code)]
    if link:
        lines.append(LINK_WORD[locale] + link)
    return "\n".join(lines)


def render_resolved_sms(alert: AlertRecord, device: DeviceSpec, *, locale: Locale, zone: ZoneInfo) -> str:
    """The optional notice that an alert was resolved."""
    when = local_time(alert.resolved_at or alert.opened_at, zone, locale)
    what = pollutant_name(alert.key.pollutant, locale) if alert.key.pollutant != WHOLE_DEVICE else ""
    if locale == "zh-CN":
        site = short_site_name(device.site_name_zh)
        return f"【已解除】{site} {device.point_name_zh} {what} {when} 告警码{alert.code}".replace("  ", " ")
    site = short_site_name(device.site_name_en)
    return f"RESOLVED {site}, {device.point_name_en}: {what} {when}, code {alert.code}".replace("  ", " ")


def render_group_sms(
    alerts: Sequence[tuple[AlertRecord, DeviceSpec]], *, locale: Locale, zone: ZoneInfo, link: str | None,
    reason: NotifyReason = "new",
) -> str:
    """One SMS about several alerts of one site: a heading, one line per alert with its code, reply help."""
    if len(alerts) == 1:
        alert, device = alerts[0]
        return render_sms(alert, device, locale=locale, zone=zone, link=link, reason=reason)
    worst = max((a for a, _ in alerts), key=lambda a: SEVERITY_RANK[a.severity])
    device = alerts[0][1]
    site = short_site_name(device.site_name_zh if locale == "zh-CN" else device.site_name_en)
    when = local_time(min(a.first_breach_at for a, _ in alerts), zone, locale)
    severity, prefix = _word(SEVERITY_WORDS, worst.severity, locale), _word(REASON_PREFIX, reason, locale)
    if locale == "zh-CN":
        head = f"{prefix}【{severity}×{len(alerts)}】{site} {when}"
    else:
        head = f"{prefix}{severity} x{len(alerts)} {site}, {when}"
    lines = [head, *(_group_line(a, d, locale) for a, d in alerts), GROUP_REPLY_HELP[locale]]
    if link:
        lines.append(LINK_WORD[locale] + link)
    return "\n".join(lines)


def _group_line(alert: AlertRecord, device: DeviceSpec, locale: Locale) -> str:
    point = device.point_name_zh if locale == "zh-CN" else device.point_name_en
    code_word = "码" if locale == "zh-CN" else "code "
    return f"{point} {_measurement(alert, locale)} {code_word}{alert.code}"


ReplyOutcome = Literal["acknowledged", "resolved", "already", "unknown", "not_authorised"]
REPLY_ANSWERS: dict[str, tuple[str, str]] = {
    "acknowledged": (
        "已确认告警{code}({disposition}),谢谢。",
        "Alert {code} acknowledged ({disposition}). Thank you.",
    ),
    "resolved": (
        "已确认告警{code}({disposition}),告警已解除。",
        "Alert {code} acknowledged ({disposition}) and resolved.",
    ),
    "already": ("告警{code}此前已确认,无需重复回复。", "Alert {code} was already acknowledged."),
    "unknown": (
        '未识别的回复。请回复"1 告警码"确认,2误报,3设备故障,4立案。',
        'Not understood. Reply "1 <code>" to confirm; 2 false alarm, 3 device fault, 4 enforcement case.',
    ),
    "not_authorised": (
        "本号码未收到告警{code},不能确认。",
        "This number was not sent alert {code}; it cannot acknowledge it.",
    ),
}
DISPOSITION_WORDS: dict[str, tuple[str, str]] = {
    "confirmed": ("属实", "confirmed"), "false_alarm": ("误报", "false alarm"),
    "device_fault": ("设备故障", "device fault"), "enforcement_case": ("立案查处", "enforcement case"),
}


def render_reply_answer(outcome: ReplyOutcome, *, code: str | None, disposition: str | None, locale: Locale) -> str:
    """The SMS answer to an inspector's reply (sent back as the webhook's TwiML message)."""
    text = _word(REPLY_ANSWERS, outcome, locale)
    return text.format(code=code or "", disposition=_word(DISPOSITION_WORDS, disposition or "", locale))


# --- platform faults (the watchdog's SMS to the on-call administrators) ------------------------------------
PLATFORM_WORDS: dict[str, tuple[str, str]] = {
    "fault": ("【平台故障】envmon 监控中断", "[PLATFORM FAULT] envmon is not watching"),
    "recovered": ("【平台恢复】envmon 监控已恢复", "[RECOVERED] envmon is watching again"),
    "service_down": ("{subject} 已停止({detail})", "{subject} down ({detail})"),
    "service_unhealthy": ("{subject} 异常:{detail}", "{subject} unhealthy: {detail}"),
    "district_silent": ("{subject} 区 {detail} 台设备同时中断", "district {subject}: {detail} devices silent at once"),
    "held": ("各设备的数据中断告警暂不发给检查人员", "per-device no-data alerts to inspectors are held back"),
    "since": ("自 {time}", "since {time}"),
    "lasted": ("故障 {minutes} 分钟", "fault lasted {minutes} min"),
}


def render_platform_sms(
    causes: Sequence[tuple[str, str, str]], *, recovered: bool, opened_at: datetime, now: datetime,
    held_back: bool, locale: Locale, zone: ZoneInfo,
) -> str:
    """The watchdog's one SMS about a platform fault (causes as (kind, subject, detail)), or its recovery."""
    def word(key: str, **values: object) -> str:
        return _word(PLATFORM_WORDS, key, locale).format(**values)

    sep = ";" if locale == "zh-CN" else "; "
    head = word("recovered" if recovered else "fault")
    facts = [word(kind, subject=subject, detail=detail) for kind, subject, detail in causes]
    if recovered:
        minutes = max(1, round((now - opened_at).total_seconds() / 60))
        facts = [word("lasted", minutes=minutes)]
    elif held_back:
        facts.append(word("held"))
    since = word("since", time=local_time(opened_at, zone, locale))
    return f"{head}{':' if locale == 'zh-CN' else ': '}{sep.join([*facts, since])}"
