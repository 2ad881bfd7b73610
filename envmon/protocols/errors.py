"""The protocols' error tree.

ProtocolError (an EnvmonError)
 +-- RejectedMessage   a message that goes to quarantine: carries a short `reason` and a `detail`
 +-- HJ212Error        the HJ 212 codec's own tree (envmon/protocols/hj212/errors.py)
"""

from __future__ import annotations

from envmon.errors import EnvmonError


class ProtocolError(EnvmonError):
    """Base of the errors the protocol codecs raise on purpose."""


class RejectedMessage(ProtocolError):
    """A message that cannot be stored; it is quarantined with this reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
