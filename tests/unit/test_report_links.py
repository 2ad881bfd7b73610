"""Report links: a valid link opens its alert only; altered, foreign, malformed or expired links are refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from alerts.reports import links
from alerts.reports.errors import LinkExpired, LinkInvalid
from alerts.reports.links import (
    link_locale,
    new_report_link,
    read_report_link,
    report_url,
    sibling_link,
    sign_report_link,
    verify_report_link,
)
from alerts.reports.render_html import with_link_bar
from envmon.signing import encode_b64url, purpose_mac

SECRET = "k" * 48
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=7)


def _flip(token: str, index: int) -> str:
    chars = list(token)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


def test_a_signed_link_opens_its_alert() -> None:
    token = sign_report_link(SECRET, 4711, EXPIRES)
    assert verify_report_link(SECRET, token, NOW) == 4711


def test_a_link_fits_an_sms() -> None:
    token = new_report_link(SECRET, 2**40, now=NOW, ttl_seconds=7 * 86400)
    assert len(token) <= 60
    assert report_url("https://envmon.example.cn/", token) == f"https://envmon.example.cn/r/{token}"


def test_two_links_of_one_alert_have_their_own_ids() -> None:
    a = read_report_link(SECRET, sign_report_link(SECRET, 1, EXPIRES), NOW)
    b = read_report_link(SECRET, sign_report_link(SECRET, 1, EXPIRES), NOW)
    assert a.alert_id == b.alert_id == 1 and a.link_id != b.link_id


def test_issued_and_expiry_times_travel_in_the_link() -> None:
    link = read_report_link(SECRET, new_report_link(SECRET, 9, now=NOW, ttl_seconds=3600), NOW)
    assert (link.issued_at, link.expires_at) == (NOW, NOW + timedelta(hours=1))


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda t: _flip(t, 3), id="payload-character-changed"),
        pytest.param(lambda t: _flip(t, len(t) - 2), id="signature-character-changed"),
        pytest.param(lambda t: _flip(t, len(t) - 1), id="last-character-changed"),
        pytest.param(lambda t: t[:-4], id="signature-cut-short"),
        pytest.param(lambda t: t.split(".")[0], id="signature-missing"),
        pytest.param(lambda t: t.replace(".", ""), id="no-separator"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "not a token at all!", id="garbage"),
        pytest.param(lambda t: "%%%." + t.split(".")[1], id="bad-base64"),
    ],
)
def test_an_altered_link_is_refused(alter: object) -> None:
    token = sign_report_link(SECRET, 4711, EXPIRES)
    with pytest.raises(LinkInvalid):
        verify_report_link(SECRET, alter(token), NOW)  # type: ignore[operator]


def test_a_link_pointed_at_another_alert_is_refused() -> None:
    token = sign_report_link(SECRET, 4711, EXPIRES)
    head, mac = token.split(".")
    payload = bytearray(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    payload[8] ^= 0x01  # the low byte of the alert id: 4711 -> 4710
    forged = base64.urlsafe_b64encode(bytes(payload)).rstrip(b"=").decode() + "." + mac
    with pytest.raises(LinkInvalid):
        verify_report_link(SECRET, forged, NOW)


def test_a_link_signed_with_another_secret_is_refused() -> None:
    token = sign_report_link("x" * 48, 4711, EXPIRES)
    with pytest.raises(LinkInvalid):
        verify_report_link(SECRET, token, NOW)


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        pytest.param(EXPIRES - timedelta(seconds=1), True, id="one-second-before-expiry"),
        pytest.param(EXPIRES, False, id="at-expiry"),
        pytest.param(EXPIRES + timedelta(days=30), False, id="long-after"),
    ],
)
def test_a_link_expires(now: datetime, opens: bool) -> None:
    token = sign_report_link(SECRET, 4711, EXPIRES)
    if opens:
        assert verify_report_link(SECRET, token, now) == 4711
    else:
        with pytest.raises(LinkExpired):
            verify_report_link(SECRET, token, now)


def _legacy_token(alert_id: int, expires_at: datetime) -> str:
    """A version 1 token as envmon issued them before links named a language."""
    payload = links._PAYLOAD_V1.pack(1, alert_id, 0, int(expires_at.timestamp()), b"\x01" * 6)
    return f"{encode_b64url(payload)}.{encode_b64url(purpose_mac(SECRET, links.PURPOSE, payload))}"


@pytest.mark.parametrize(
    ("token", "requested", "opens_in"),
    [
        pytest.param(lambda: sign_report_link(SECRET, 7, EXPIRES, locale="en"), None, "en", id="english-link"),
        pytest.param(lambda: sign_report_link(SECRET, 7, EXPIRES, locale="en"), "zh-CN", "en",
                     id="english-link-ignores-lang"),
        pytest.param(lambda: sign_report_link(SECRET, 7, EXPIRES, locale="zh-CN"), "en", "zh-CN",
                     id="chinese-link-ignores-lang"),
        pytest.param(lambda: _legacy_token(7, EXPIRES), None, "zh-CN", id="legacy-link-defaults-to-zh-CN"),
        pytest.param(lambda: _legacy_token(7, EXPIRES), "en", "en", id="legacy-link-honours-lang"),
        pytest.param(lambda: _legacy_token(7, EXPIRES), "fr", "zh-CN", id="legacy-link-unknown-lang"),
    ],
)
def test_a_link_opens_the_report_in_its_language(token: object, requested: str | None, opens_in: str) -> None:
    link = read_report_link(SECRET, token(), NOW)  # type: ignore[operator]
    assert link.alert_id == 7
    assert link_locale(link, requested) == opens_in


def test_the_language_cannot_be_changed_without_the_key() -> None:
    token = sign_report_link(SECRET, 4711, EXPIRES, locale="en")
    head, mac = token.split(".")
    payload = bytearray(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    payload[-1] = 0  # en -> zh-CN
    forged = base64.urlsafe_b64encode(bytes(payload)).rstrip(b"=").decode() + "." + mac
    with pytest.raises(LinkInvalid):
        read_report_link(SECRET, forged, NOW)


def test_the_other_language_link_shares_id_and_expiry() -> None:
    link = read_report_link(SECRET, new_report_link(SECRET, 9, now=NOW, ttl_seconds=3600, locale="en"), NOW)
    other = read_report_link(SECRET, sibling_link(SECRET, link, "zh-CN"), NOW)
    assert (other.alert_id, other.link_id, other.issued_at, other.expires_at) == (
        link.alert_id, link.link_id, link.issued_at, link.expires_at)
    assert (link.locale, other.locale) == ("en", "zh-CN")


def test_an_english_link_still_fits_an_sms() -> None:
    assert len(new_report_link(SECRET, 2**40, now=NOW, ttl_seconds=7 * 86400, locale="en")) <= 60


@pytest.mark.parametrize(
    ("locale", "other_label", "other_lang"),
    [pytest.param("zh-CN", "English", "en", id="zh"), pytest.param("en", "中文版", "zh-CN", id="en")],
)
def test_the_report_page_offers_pdf_and_the_other_language(locale: str, other_label: str, other_lang: str) -> None:
    page = with_link_bar('<html><body class="x"><h1>R</h1></body></html>', locale=locale,
                         pdf_href="/r/T?format=pdf", other_href="/r/S&x")
    bar = page[page.index('<body class="x">') + len('<body class="x">'):page.index("<h1>")]
    assert 'id="report-pdf" href="/r/T?format=pdf"' in bar
    assert f'href="/r/S&amp;x" hreflang="{other_lang}" lang="{other_lang}">{other_label}</a>' in bar
