"""The pieces of envmon's signed tokens: unpadded base64url text and a purpose-bound, truncated HMAC-SHA256.

Each token kind (report links, answer links) keeps its own payload layout and errors; the purpose label
goes into the MAC so that no token of one kind passes for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

# 16 bytes of HMAC-SHA256 keep an SMS link short while leaving forgery at 2**-128 a try.
MAC_BYTES = 16


def encode_b64url(data: bytes) -> str:
    """`data` as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_b64url(text: str) -> bytes | None:
    """The bytes of unpadded base64url `text`; None when it is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def purpose_mac(secret: str, purpose: bytes, payload: bytes) -> bytes:
    """The first MAC_BYTES of HMAC-SHA256 under `secret` over the purpose label and the payload."""
    return hmac.new(secret.encode("utf-8"), purpose + payload, hashlib.sha256).digest()[:MAC_BYTES]


def is_mac_valid(secret: str, purpose: bytes, payload: bytes, mac: bytes) -> bool:
    """Whether `mac` signs `payload` for `purpose` (compared in constant time)."""
    return hmac.compare_digest(mac, purpose_mac(secret, purpose, payload))
