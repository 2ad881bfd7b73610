"""Signed-token pieces: unpadded base64url round trips, malformed text is None, the MAC binds the purpose."""

from __future__ import annotations

import pytest

from envmon.signing import MAC_BYTES, decode_b64url, encode_b64url, is_mac_valid, purpose_mac


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(b"", "", id="empty"),
        pytest.param(b"\xfb\xff", "-_8", id="url-alphabet-no-padding"),
        pytest.param(b"abcd", "YWJjZA", id="padding-dropped"),
    ],
)
def test_b64url_round_trips_without_padding(data: bytes, text: str) -> None:
    assert encode_b64url(data) == text
    assert decode_b64url(text) == data


@pytest.mark.parametrize(
    "text",
    [pytest.param("a", id="one-char"), pytest.param("YW*j", id="foreign-char"), pytest.param("é", id="non-ascii")],
)
def test_malformed_b64url_is_none(text: str) -> None:
    assert decode_b64url(text) is None


@pytest.mark.parametrize(
    ("secret", "purpose", "payload", "valid"),
    [
        pytest.param("s" * 32, b"p/v1\x00", b"data", True, id="same"),
        pytest.param("t" * 32, b"p/v1\x00", b"data", False, id="other-secret"),
        pytest.param("s" * 32, b"q/v1\x00", b"data", False, id="other-purpose"),
        pytest.param("s" * 32, b"p/v1\x00", b"datb", False, id="other-payload"),
    ],
)
def test_mac_binds_secret_purpose_and_payload(secret: str, purpose: bytes, payload: bytes, valid: bool) -> None:
    mac = purpose_mac("s" * 32, b"p/v1\x00", b"data")
    assert len(mac) == MAC_BYTES
    assert is_mac_valid(secret, purpose, payload, mac) is valid
