"""The alerts error tree; psycopg and Twilio exceptions are converted to these where they are called.

AlertsError (an EnvmonError)
 +-- AlertServiceError   the alert service cannot start or run (e.g. another engine holds the shard)
 +-- ReplayInputError    a replay file is invalid (names the line)
 +-- EngineStateError    a stored engine snapshot cannot be read back
 +-- LifecycleError      an action the alert's state does not allow
 +-- AnswerRefused       a step of the plant's answer that does not fit its request's state (alerts.answer_flow)
 +-- SendError           an SMS was not sent (`recoverable`: whether a retry can help)
 +-- ReportError         a report or report link cannot be made (alerts.reports.errors)
 +-- PolicyError         the alert policy file is invalid (also a ConfigError)
"""

from __future__ import annotations

from envmon.errors import EnvmonError


class AlertsError(EnvmonError):
    """Base of every error the alerts package raises on purpose."""


class EngineStateError(AlertsError):
    """A stored engine snapshot cannot be read back (unknown version): the engine starts fresh or stops."""
