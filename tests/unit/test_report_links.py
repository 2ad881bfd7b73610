"""Report links: a valid link opens its alert only; altered, foreign, malformed or expired links are refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from alerts.reports.errors import LinkExpired, LinkInvalid
from alerts.reports.links import new_report_link, read_report_link, report_url, sign_report_link, verify_report_link

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
