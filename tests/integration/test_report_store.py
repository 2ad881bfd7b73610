"""Stored reports: versions, the PDF's text in both languages (pdftotext), a drawn first page, link revocation."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.reports.demo import Scenario, build_incident, ensure_registry
from alerts.reports.errors import LinkExpired, LinkInvalid, LinkRevoked
from alerts.reports.links import check_report_link, new_report_link, revoke_alert_links, revoke_report_link
from alerts.reports.store import generate_report, latest_report, load_report, report_versions

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
SECRET = "s" * 48


@pytest.fixture
def incident(db: psycopg.Connection) -> tuple[psycopg.Connection, int]:
    ensure_registry(db)
    db.commit()
    return db, build_incident(db, Scenario(), now=NOW)


def pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def dark_pixel_share(pdf: bytes) -> float:
    """Share of first-page pixels darker than light grey, from pdftoppm's greyscale PGM."""
    out = subprocess.run(["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "1", "-"], input=pdf,
                         capture_output=True, check=True).stdout
    header = out.split(b"\n", 3)
    assert header[0] == b"P5"
    width, height = map(int, header[1].split())
    pixels = header[3][: width * height]
    return sum(1 for p in pixels if p < 200) / (width * height)


EXPECTED = {
    "zh-CN": ["上海奉贤鑫达电镀有限公司", "六价铬", "0.23mg/L", "0.1mg/L", "GB21900-2008表3", "1.30倍", "2.30倍",
              "2026-11-2211:34", "2小时25分", "第1页/共", "91310120700547736C001P", "HJ212-2017CN3015"],
    "en": ["ShanghaiFengxianXindaElectroplatingCo.,Ltd.", "Hexavalentchromium", "0.23mg/L", "0.1mg/L",
           "GB21900-2008表3", "1.30x", "2.30x", "2026-11-2211:34", "2h25min", "Page1of", "ORP", "HJ212-2017CN3015"],
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_pdf_text_states_the_facts(incident: tuple[psycopg.Connection, int], locale: str) -> None:
    conn, alert_id = incident
    report = load_report(conn, generate_report(conn, alert_id, locale=locale, now=NOW, reason="open"))
    assert report is not None and report.pdf is not None and report.pdf.startswith(b"%PDF-")
    text = squeeze(pdf_text(report.pdf))
    missing = [fact for fact in EXPECTED[locale] if fact not in text]
    assert not missing, f"not in the {locale} PDF: {missing}"


def test_first_page_is_drawn(incident: tuple[psycopg.Connection, int]) -> None:
    conn, alert_id = incident
    report = load_report(conn, generate_report(conn, alert_id, locale="zh-CN", now=NOW))
    assert report is not None and report.pdf is not None
    assert dark_pixel_share(report.pdf) > 0.03


def test_html_is_self_contained_and_phone_ready(incident: tuple[psycopg.Connection, int]) -> None:
    conn, alert_id = incident
    report = load_report(conn, generate_report(conn, alert_id, locale="en", now=NOW))
    assert report is not None and report.html is not None
    assert 'name="viewport"' in report.html and "<svg" in report.html
    assert not re.search(r"""(src|href)=["']https?://""", report.html), "the page must not fetch anything"


def test_versions_accumulate_per_locale_and_the_last_is_final(incident: tuple[psycopg.Connection, int]) -> None:
    conn, alert_id = incident
    generate_report(conn, alert_id, locale="zh-CN", now=NOW, reason="open")
    generate_report(conn, alert_id, locale="en", now=NOW, reason="open")
    generate_report(conn, alert_id, locale="zh-CN", now=NOW + timedelta(minutes=15), reason="escalation")
    final_id = generate_report(conn, alert_id, locale="zh-CN", now=NOW + timedelta(hours=1), final=True, reason="resolved")
    history = [(r.locale, r.version, r.status, r.reason) for r in report_versions(conn, alert_id)]
    assert history == [
        ("en", 1, "draft", "open"), ("zh-CN", 1, "draft", "open"), ("zh-CN", 2, "draft", "escalation"),
        ("zh-CN", 3, "final", "resolved"),
    ]
    latest = latest_report(conn, alert_id, locale="zh-CN")
    assert latest is not None and latest.id == final_id and latest.html is not None and "终稿" in latest.html


def test_a_revoked_link_is_refused(incident: tuple[psycopg.Connection, int]) -> None:
    conn, alert_id = incident
    token = new_report_link(SECRET, alert_id, now=NOW, ttl_seconds=7 * 86400)
    other = new_report_link(SECRET, alert_id, now=NOW, ttl_seconds=7 * 86400)
    assert check_report_link(conn, SECRET, token, now=NOW).alert_id == alert_id
    revoke_report_link(conn, SECRET, token, now=NOW + timedelta(minutes=1), actor="insp-zhang-wei", reason="wrong phone")
    with pytest.raises(LinkRevoked):
        check_report_link(conn, SECRET, token, now=NOW + timedelta(minutes=2))
    assert check_report_link(conn, SECRET, other, now=NOW + timedelta(minutes=2)).alert_id == alert_id


def test_revoking_an_alert_refuses_its_earlier_links_only(incident: tuple[psycopg.Connection, int]) -> None:
    conn, alert_id = incident
    before = new_report_link(SECRET, alert_id, now=NOW, ttl_seconds=86400)
    revoke_alert_links(conn, alert_id, now=NOW + timedelta(minutes=5), actor="admin")
    after = new_report_link(SECRET, alert_id, now=NOW + timedelta(minutes=10), ttl_seconds=86400)
    with pytest.raises(LinkRevoked):
        check_report_link(conn, SECRET, before, now=NOW + timedelta(minutes=11))
    assert check_report_link(conn, SECRET, after, now=NOW + timedelta(minutes=11)).alert_id == alert_id


def test_tampered_and_expired_links_are_refused_before_the_database(incident: tuple[psycopg.Connection, int]) -> None:
    conn, alert_id = incident
    token = new_report_link(SECRET, alert_id, now=NOW, ttl_seconds=3600)
    with pytest.raises(LinkExpired):
        check_report_link(conn, SECRET, token, now=NOW + timedelta(hours=1))
    with pytest.raises(LinkInvalid):
        check_report_link(conn, SECRET, token[:-1] + ("A" if token[-1] != "A" else "B"), now=NOW)


@pytest.mark.parametrize(("locale", "expected"), [
    pytest.param("zh-CN", [("新告警", "已送达"), ("升级", "已发送")], id="zh-CN"),
    pytest.param("en", [("new alert", "delivered"), ("escalation", "sent")], id="en"),
])
def test_the_notification_log_names_each_reason_and_status(
    incident: tuple[psycopg.Connection, int], locale: str, expected: list[tuple[str, str]]
) -> None:
    """The sender stores the reason `new`; the report's own word table knew only `open`, so it showed `new` raw."""
    conn, alert_id = incident
    report = load_report(conn, generate_report(conn, alert_id, locale=locale, now=NOW))
    assert report is not None and report.html is not None
    rows = re.findall(r"<tr><td>[^<]*</td><td>[^<]*</td><td>\+[^<]*</td><td>([^<]*)</td><td>([^<]*)</td></tr>", report.html)
    assert rows == expected
