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
from envmon.words import find, text, word

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
# The words are the catalogue's (envmon.words): the shared names of severities, flags and dispositions, and the
# SMS's own short forms under `sms.*`. English headlines write the severity in capitals to stand out on a lock
# screen; Chinese brackets it (【超标】) instead.
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Legal-form suffixes people do not need to recognise a plant, longest first.
_SITE_SUFFIXES = re.compile(r"(股份有限公司|有限责任公司|有限公司|公司|,? ?Co\.,? ?Ltd\.?|,? ?Ltd\.?|,? ?Co\.)$")
_SITE_PLACE_PREFIX = re.compile(r"^(上海市?|[\u4e00-\u9fff]{2,3}[省市区县])+")


def _severity(severity: str, locale: Locale) -> str:
    name = word(locale, "severity", severity)
    return name if locale == "zh-CN" else name.upper()


def format_number(value: float) -> str:
    """Three significant digits, no exponent, no trailing zeros (1.5, 0.005, 1234); half to even as GB/T 8170."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    shown = f"{value:.{decimals}f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def exceedance_multiple(value: float, limit: float) -> float:
    """超标倍数 as Chinese practice writes it: (value - limit) / limit."""
    return (value - limit) / limit


def limit_ratio_text(value: float, limit: float) -> str:
    """C/L as written numbers divide (no float artefact), cut (never rounded up) to two decimals: a value
    below 3x the limit never reads '3.0'; at least one decimal ('3.0', '1.05')."""
    ratio = (Decimal(repr(value)) / Decimal(repr(limit))).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    shown = f"{ratio:f}".rstrip("0")
    return shown + "0" if shown.endswith(".") else shown


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
    shown = find(locale, f"sms.unit.{unit}")
    if shown is not None:
        return shown
    return unit if locale == "zh-CN" else " " + unit


# --- facts ------------------------------------------------------------------------------------------------
def _measurement(alert: AlertRecord, locale: Locale) -> str:
    """'总铬小时均值 1.5mg/L 限值1,为限值的1.5倍' / 'Total chromium 1-h avg 1.5 mg/L, limit 1 (1.5x the limit)'."""
    pollutant = alert.key.pollutant
    if alert.category == "device" or alert.last_value is None:
        return _device_facts(alert, locale)
    basis = word(locale, "sms.basis", alert.key.rule)
    name = pollutant_name(pollutant, locale) + ("" if not basis else ("" if locale == "zh-CN" else " ") + basis)
    over_range = bool(alert.detail.get("over_range"))
    # An over-range reading, or the lowest daily mean still possible, is a floor: the true value is at least it.
    at_least = over_range or (alert.key.rule == "day_avg" and bool(alert.detail.get("early")))
    floor_sign = ("≥" if locale == "zh-CN" else ">=") if at_least else ""  # "≥" is not GSM-7: English SMS keep it
    value = floor_sign + format_number(alert.last_value) + _unit(pollutant, locale)
    if over_range:
        over = text(locale, "sms.over_range")
        value += f"({over})" if locale == "zh-CN" else f" ({over})"
    return f"{name} {value}{_limit_text(alert, locale)}{_early_text(alert, locale)}"


def _device_facts(alert: AlertRecord, locale: Locale) -> str:
    """'设备状态异常 校准C:总铬,六价铬' / 'abnormal device status: calibration (C): total chromium, ...'."""
    pollutant = alert.key.pollutant
    thing = "" if pollutant == WHOLE_DEVICE else pollutant_name(pollutant, locale) + " "
    words = thing + word(locale, "sms.device_rule", alert.key.rule)
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
    name = find("zh-CN" if zh else "en", f"flag.{letter}") or ""
    more = len(names) - 3
    if zh:
        listed = ",".join(names[:3]) + (f"等{len(names)}项" if more > 0 else "")
        return f"{name}{letter}:{listed}"
    listed = ", ".join(names[:3]) + (f" and {more} more" if more > 0 else "")
    return f"{name} ({letter}): {listed}" if name else f"flag {letter}: {listed}"


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
    # A pre-warning names the mean's limit it announces (only the known bases: sms.prewarning.day/hour).
    prewarning = prewarning if isinstance(prewarning, str) and find(locale, f"sms.prewarning.{prewarning}") else None
    if prewarning is not None and kind == "limit" and value > limit:
        words = word(locale, "sms.prewarning", prewarning)
        return f" {words}{number}" if zh else f", {words} {number}"
    from_permit = kind == "limit" and alert.detail.get("limit_from") == "permit"
    label = word(locale, "sms.threshold", "permit_limit" if from_permit else kind)
    if prewarning is not None and kind == "limit":
        label = word(locale, "sms.mean_limit", prewarning)  # the line is a mean's limit, not the reading's
    if alert.severity == "warning" and kind == "limit" and isinstance(warning_line, (int, float)):
        line = word(locale, "sms.threshold", "warning_line") + ("" if zh else " ") + format_number(warning_line)
        return f" {line}({label}{number})" if zh else f", {line} ({label} {number})"
    with_ratio = kind == "limit" and alert.severity in ("exceedance", "severe") and value > limit
    ratio = limit_ratio_text(value, limit) if with_ratio else ""
    times = text(locale, "sms.ratio").format(ratio=ratio) if ratio else ""
    return f" {label}{number}{times}" if zh else f", {label} {number}{times}"


def _early_text(alert: AlertRecord, locale: Locale) -> str:
    """Why a daily exceedance is announced before the day ends: the hours left cannot bring the mean down."""
    hours_left = alert.detail.get("hours_left")
    if alert.key.rule != "day_avg" or not alert.detail.get("early") or not isinstance(hours_left, int):
        return ""
    return text(locale, "sms.early_day").format(hours=hours_left)


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
    prefix = word(locale, "sms.reason_prefix", reason)
    severity = _severity(alert.severity, locale)
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
    lines = [_first_line(alert, device, locale, zone, reason), text(locale, "sms.reply_help").format(code=code)]
    if link:
        lines.append(text(locale, "sms.link") + link)
    return "\n".join(lines)


def render_resolved_sms(alert: AlertRecord, device: DeviceSpec, *, locale: Locale, zone: ZoneInfo) -> str:
    """The optional notice that an alert was resolved."""
    when = local_time(alert.resolved_at or alert.opened_at, zone, locale)
    what = pollutant_name(alert.key.pollutant, locale) if alert.key.pollutant != WHOLE_DEVICE else ""
    zh = locale == "zh-CN"
    site = short_site_name(device.site_name_zh if zh else device.site_name_en)
    point = device.point_name_zh if zh else device.point_name_en
    notice = text(locale, "sms.resolved").format(site=site, point=point, what=what, when=when, code=alert.code)
    return notice.replace("  ", " ")


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
    severity, prefix = _severity(worst.severity, locale), word(locale, "sms.reason_prefix", reason)
    if locale == "zh-CN":
        head = f"{prefix}【{severity}×{len(alerts)}】{site} {when}"
    else:
        head = f"{prefix}{severity} x{len(alerts)} {site}, {when}"
    lines = [head, *(_group_line(a, d, locale) for a, d in alerts), text(locale, "sms.group_reply_help")]
    if link:
        lines.append(text(locale, "sms.link") + link)
    return "\n".join(lines)


def _group_line(alert: AlertRecord, device: DeviceSpec, locale: Locale) -> str:
    point = device.point_name_zh if locale == "zh-CN" else device.point_name_en
    return f"{point} {_measurement(alert, locale)} " + text(locale, "sms.group_code").format(code=alert.code)


ReplyOutcome = Literal["acknowledged", "resolved", "already", "unknown", "not_authorised"]
def render_reply_answer(outcome: ReplyOutcome, *, code: str | None, disposition: str | None, locale: Locale) -> str:
    """The SMS answer to an inspector's reply (sent back as the webhook's TwiML message)."""
    answer = text(locale, f"sms.answer.{outcome}")
    return answer.format(code=code or "", disposition=word(locale, "disposition", disposition))


# --- platform faults (the watchdog's SMS to the on-call administrators) ------------------------------------
def render_platform_sms(
    causes: Sequence[tuple[str, str, str]], *, recovered: bool, opened_at: datetime, now: datetime,
    held_back: bool, locale: Locale, zone: ZoneInfo,
) -> str:
    """The watchdog's one SMS about a platform fault (causes as (kind, subject, detail)), or its recovery."""
    def say(key: str, **values: object) -> str:
        return text(locale, f"sms.platform.{key}").format(**values)

    sep = ";" if locale == "zh-CN" else "; "
    head = say("recovered" if recovered else "fault")
    facts = [say(kind, subject=subject, detail=detail) for kind, subject, detail in causes]
    if recovered:
        minutes = max(1, round((now - opened_at).total_seconds() / 60))
        facts = [say("lasted", minutes=minutes)]
    elif held_back:
        facts.append(say("held"))
    since = say("since", time=local_time(opened_at, zone, locale))
    return f"{head}{':' if locale == 'zh-CN' else ': '}{sep.join([*facts, since])}"
