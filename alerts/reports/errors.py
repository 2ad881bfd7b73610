"""The report error tree.

AlertsError (alerts.errors, an EnvmonError)
 +-- ReportError          a report cannot be built (unknown alert, no device ...)
      +-- LinkError       a report link is refused
           +-- LinkInvalid    malformed, or its signature does not match (tampered)
           +-- LinkExpired    past its expiry time
           +-- LinkRevoked    revoked by a person
"""

from __future__ import annotations

from alerts.errors import AlertsError


class ReportError(AlertsError):
    """A report cannot be built or found."""


class LinkError(ReportError):
    """A report link is refused; the message says why, without secrets."""


class LinkInvalid(LinkError):
    """The link is malformed or its signature does not match (it was altered or signed with another key)."""


class LinkExpired(LinkError):
    """The link's expiry time has passed."""


class LinkRevoked(LinkError):
    """The link (or every link of its alert) was revoked."""
