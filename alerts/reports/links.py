"""Signed, expiring, revocable links to one alert's report, short enough for an SMS.

A token is `base64url(payload).base64url(mac)`: payload = version (1 byte), alert id (8), issued at
and expires at (epoch seconds, 4 each), link id (6 random bytes) and, from version 2, the language
of the report it opens (1 byte: 0 zh-CN, 1 en); mac = the first 16 bytes of HMAC-SHA256 under the
signing secret, over a purpose label and the payload (so no other signed value of envmon can pass
for a report link, and the language cannot be changed without breaking the signature). 57
characters in all (54 for version 1, which carries no language and still opens, in zh-CN unless asked).
The page of a link offers the other language through a sibling token: same alert, link id and
expiry, other language, so revoking the link revokes both.
Revocation is data (migration 0006): one link by its id, or every link of an alert issued before a time.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from alerts.reports.errors import LinkExpired, LinkInvalid, LinkRevoked, ReportError
from envmon.signing import decode_b64url, encode_b64url, is_mac_valid, purpose_mac

VERSION = 2
LEGACY_VERSION = 1
PURPOSE = b"envmon/report-link/v1\x00"
_PAYLOAD_V1 = struct.Struct(">BQII6s")
_PAYLOAD = struct.Struct(">BQII6sB")
LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


@dataclass(frozen=True, slots=True)
class ReportLink:
    """What a verified token says."""

    alert_id: int
    link_id: str
    issued_at: datetime
    expires_at: datetime
    locale: str | None = None  # None: a version 1 link, which names no language


def sign_report_link(
    secret: str, alert_id: int, expires_at: datetime, *, issued_at: datetime | None = None,
    locale: str = DEFAULT_LOCALE, link_id: bytes | None = None,
) -> str:
    """A token opening the alert's report in `locale` until `expires_at`; issued_at (default unknown): revocation."""
    if locale not in LOCALES:
        raise ReportError(f"report links exist in {', '.join(LOCALES)}, not {locale!r}")
    issued = int(issued_at.timestamp()) if issued_at else 0
    ident = link_id if link_id is not None else secrets.token_bytes(6)
    payload = _PAYLOAD.pack(VERSION, alert_id, issued, int(expires_at.timestamp()), ident, LOCALES.index(locale))
    return f"{encode_b64url(payload)}.{encode_b64url(purpose_mac(secret, PURPOSE, payload))}"


def read_report_link(secret: str, token: str, now: datetime) -> ReportLink:
    """Check the token's signature and expiry; LinkInvalid when altered or malformed, LinkExpired when past."""
    head, dot, tail = token.strip().partition(".")
    payload, mac = decode_b64url(head), decode_b64url(tail)
    if payload is None or mac is None:
        raise LinkInvalid("report link is malformed")
    # Canonical encoding only: otherwise the unused low bits of the last character could change unnoticed.
    canonical = encode_b64url(payload) == head and encode_b64url(mac) == tail
    sized = len(payload) in (_PAYLOAD.size, _PAYLOAD_V1.size)
    if not (dot and canonical and sized and is_mac_valid(secret, PURPOSE, payload, mac)):
        raise LinkInvalid("report link is not valid (altered, incomplete or signed with another key)")
    link = _unpack(payload)
    if now >= link.expires_at:
        raise LinkExpired(f"report link expired at {link.expires_at.isoformat()}")
    return link


def _unpack(payload: bytes) -> ReportLink:
    """The facts of a signed payload of either version; LinkInvalid for a version or language we do not know."""
    version = payload[0]
    if version == LEGACY_VERSION and len(payload) == _PAYLOAD_V1.size:
        _, alert_id, issued, expires, link_id = _PAYLOAD_V1.unpack(payload)
        locale = None
    elif version == VERSION and len(payload) == _PAYLOAD.size:
        _, alert_id, issued, expires, link_id, language = _PAYLOAD.unpack(payload)
        if language >= len(LOCALES):
            raise LinkInvalid(f"report link language {language} is not supported")
        locale = LOCALES[language]
    else:
        raise LinkInvalid(f"report link version {version} is not supported")
    return ReportLink(alert_id, link_id.hex(), datetime.fromtimestamp(issued, UTC),
                      datetime.fromtimestamp(expires, UTC), locale)


def link_locale(link: ReportLink, requested: str | None) -> str:
    """The language a link opens: the one it was signed with; a version 1 link: `?lang=` if valid, else zh-CN."""
    if link.locale is not None:
        return link.locale
    return requested if requested in LOCALES else DEFAULT_LOCALE


def sibling_link(secret: str, link: ReportLink, locale: str) -> str:
    """A token for the same report in another language, with the link's id and expiry (revoked together)."""
    return sign_report_link(secret, link.alert_id, link.expires_at, issued_at=link.issued_at, locale=locale,
                            link_id=bytes.fromhex(link.link_id))


def verify_report_link(secret: str, token: str, now: datetime) -> int:
    """The alert id a valid, unexpired token opens (revocation is checked by `check_report_link`)."""
    return read_report_link(secret, token, now).alert_id


def new_report_link(
    secret: str, alert_id: int, *, now: datetime, ttl_seconds: int, locale: str = DEFAULT_LOCALE
) -> str:
    """A token issued now, opening the report in `locale`, valid for ttl_seconds (settings.report_link_ttl_seconds)."""
    return sign_report_link(secret, alert_id, now + timedelta(seconds=ttl_seconds), issued_at=now, locale=locale)


def report_url(public_base_url: str, token: str) -> str:
    """The link to put in the SMS (the dashboard serves /r/{token})."""
    return f"{public_base_url.rstrip('/')}/r/{token}"


def check_report_link(conn: psycopg.Connection, secret: str, token: str, *, now: datetime) -> ReportLink:
    """Verify a token and refuse it when revoked (LinkRevoked); the link's facts when it may open."""
    link = read_report_link(secret, token, now)
    row = conn.execute(
        "SELECT 1 FROM report_link_revocations WHERE link_id = %s"
        " OR (alert_id = %s AND link_id IS NULL AND revoked_at > %s) LIMIT 1",
        (link.link_id, link.alert_id, link.issued_at),
    ).fetchone()
    if row is not None:
        raise LinkRevoked("report link was revoked")
    return link


def revoke_report_link(
    conn: psycopg.Connection, secret: str, token: str, *, now: datetime, actor: str, reason: str = ""
) -> ReportLink:
    """Revoke one link (its signature must be valid; an expired link may still be revoked)."""
    link = read_report_link(secret, token, datetime.fromtimestamp(0, UTC))
    with conn.transaction():
        conn.execute(
            "INSERT INTO report_link_revocations (alert_id, link_id, revoked_at, revoked_by, reason)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (link_id) DO NOTHING",
            (link.alert_id, link.link_id, now, actor, reason),
        )
    return link


def revoke_alert_links(conn: psycopg.Connection, alert_id: int, *, now: datetime, actor: str, reason: str = "") -> None:
    """Revoke every link of the alert issued up to now; links issued later open again."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO report_link_revocations (alert_id, revoked_at, revoked_by, reason) VALUES (%s, %s, %s, %s)",
            (alert_id, now, actor, reason),
        )
