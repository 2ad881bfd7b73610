"""The inspection report as one self-contained HTML page (phone first; the same page prints to PDF)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from html import escape
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from alerts.reports import chart, display, measures
from alerts.reports.compliance import ComplianceFacts
from alerts.reports.model import ReportFacts
from envmon.words import section, word


@dataclass(frozen=True, slots=True)
class ReportMeta:
    """What the stored version adds to the facts: its number and whether it is final."""

    version: int = 1
    final: bool = False


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("alerts.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@cache
def _stylesheet() -> str:
    return resources.files("alerts.reports.templates").joinpath("report.css").read_text(encoding="utf-8")


def render_html(facts: ReportFacts, *, locale: str, zone: ZoneInfo, meta: ReportMeta | None = None) -> str:
    """The report page in zh-CN or English, times in `zone`, with inline CSS and SVG (nothing fetched)."""
    template = _environment().get_template("report.html.j2")
    return template.render(**_context(facts, locale, zone, meta or ReportMeta()))


def _common(locale: str, zone: ZoneInfo, generated_at: datetime) -> dict[str, Any]:
    """What every report page needs: labels, the formatters for this locale and zone, the stylesheet."""
    labels = section(locale, "report")
    zh = locale == "zh-CN"
    return {
        "t": labels,
        "zh": zh,
        "lang": "zh-CN" if zh else "en",
        "css": _stylesheet(),
        "zone": display.zone_label(zone, generated_at),
        "name": lambda kind, code: word(locale, kind, code),
        "pick": lambda zh_text, en_text: (zh_text if zh else en_text) or zh_text or en_text or "",
        "q": display.quantity,
        "num": display.number,
        "pct": display.percent,
        "mult": lambda v: display.multiple(v, locale),
        "when": lambda m, seconds=False: display.local_time(m, zone, seconds=seconds),
        "hour": lambda m: display.local_hour(m, zone),
        "day": display.day,
        "dur": lambda s: display.duration(s, locale),
        "flag_colours": chart.FLAG_COLOURS,
        "page_rule": page_counter_css(labels["page"]),
    }


def _context(facts: ReportFacts, locale: str, zone: ZoneInfo, meta: ReportMeta) -> dict[str, Any]:
    common = _common(locale, zone, facts.generated_at)
    lines = _ref_lines(facts, common["t"])
    return {
        **common,
        "f": facts,
        "meta": meta,
        "main_chart": _main_chart(facts, lines, zone),
        "ref_lines": lines,
        "sparks": [chart.sparkline(s.points) for s in facts.co_series],
        "warning_value": measures.warning_value(facts.limit) if facts.limit else None,
    }


def render_compliance_html(facts: ComplianceFacts, *, locale: str, zone: ZoneInfo, version: int = 1) -> str:
    """A plant's daily or monthly compliance report page."""
    common = _common(locale, zone, facts.generated_at)
    last_day = facts.period_end - timedelta(days=1)
    period = facts.period_start.isoformat() if facts.kind == "daily" else facts.period_start.strftime("%Y-%m")
    context = {
        **common,
        "f": facts,
        "meta": ReportMeta(version, final=True),
        "title": common["t"]["daily_title" if facts.kind == "daily" else "monthly_title"],
        "period": period if facts.kind == "daily" else f"{period} ({facts.period_start} – {last_day})",
        "over_total": sum(r.over for r in facts.rows),
    }
    return _environment().get_template("compliance.html.j2").render(**context)


# Inline styles: the page is served under a CSP that allows inline style attributes and nothing fetched.
_BAR = (
    '<nav class="report-links" aria-label="{label}" style="display:flex;gap:1.2em;justify-content:flex-end;'
    'padding:.5em 1em;font-size:15px;border-bottom:1px solid #d1d5db;background:#f9fafb">'
    '{act}{pdf}<a id="report-other-language" href="{other}" hreflang="{other_lang}" lang="{other_lang}">'
    "{other_label}</a></nav>"
)
_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)


def with_link_bar(
    html: str, *, locale: str, pdf_href: str | None, other_href: str, act_href: str | None = None
) -> str:
    """The stored report page with links to its PDF and to the same report in the other language, at the top.

    act_href: where a person acts on the alert (the dashboard's alert page), first in the bar for a thumb.
    """
    labels = section(locale, "report")
    act = ""
    if act_href:
        act = f'<a id="report-act" href="{escape(act_href)}" style="margin-right:auto">{escape(labels["link_act"])}</a>'
    pdf = ""
    if pdf_href:
        pdf = f'<a id="report-pdf" href="{escape(pdf_href)}" type="application/pdf">{escape(labels["link_pdf"])}</a>'
    bar = _BAR.format(
        label=escape(labels["link_bar"]), act=act, pdf=pdf, other=escape(other_href),
        other_lang="en" if locale == "zh-CN" else "zh-CN", other_label=escape(labels["link_other_language"]),
    )
    found = _BODY.search(html)
    if found is None:
        return bar + html
    return html[: found.end()] + bar + html[found.end():]


def page_counter_css(template: str) -> str:
    """A CSS content value from a label like "Page {page} of {pages}" (quotes around text, counters between)."""
    parts: list[str] = []
    rest = template
    for name in ("{page}", "{pages}"):
        before, _, rest = rest.partition(name)
        parts += [_css_string(before), f"counter({name.strip('{}')})"]
    parts.append(_css_string(rest))
    return " ".join(p for p in parts if p)


def _css_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if value else ""


# Label and colour of each kind of line; the lower tier dashed (the dashboard draws the same kinds).
_LINE_STYLE = {
    "warning": ("warning_line", "#d97706", True),
    "level1": ("level1_line", "#d97706", True),
    "limit": ("limit_line", "#dc2626", False),
    "level2": ("level2_line", "#dc2626", False),
}


def _ref_lines(facts: ReportFacts, labels: dict[str, str]) -> list[chart.RefLine]:
    """The registry's lines for the limit (warning and limit; gas alarms level 1 and 2), for chart and legend."""
    if facts.limit is None:
        return []
    out: list[chart.RefLine] = []
    for line in measures.lines_of(facts.limit):
        label, colour, dashed = _LINE_STYLE[line.kind]
        out.append(chart.RefLine(line.value, labels[label], colour, dashed=dashed))
    return out


def _main_chart(facts: ReportFacts, lines: list[chart.RefLine], zone: ZoneInfo) -> str:
    event = facts.event
    peak = (event.peak_at, event.peak_value) if event.peak_at and event.peak_value is not None else None
    return chart.line_chart(
        facts.series.points,
        start=facts.window_start,
        end=facts.window_end,
        zone=zone,
        unit=facts.pollutant.unit,
        lines=lines,
        peak=peak,
        breach_at=event.first_breach_at,
    )
