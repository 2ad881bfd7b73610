"""The dashboard error tree; the app turns the request errors into HTTP answers (dashboard.app).

DashboardError (an EnvmonError)
 +-- NotSignedIn      no live session (pages redirect to the login, the API answers 401)
 +-- Forbidden        signed in, but the role may not do this (403)
 +-- NotFound         missing, or outside the user's scope (404)
 +-- Conflict         the action does not fit the thing's state (409)
 +-- BadRequest       malformed input the routes check themselves (400)
 +-- ActionRefused    an alert action not taken (dashboard.alert_queue: ActionForbidden, ActionConflict)
 +-- Refused          a change refused for its input, in the catalogue's words (`page.<key>`)
      +-- UserError   a user that cannot be created or changed as asked (dashboard.users)
      +-- AdminError  a registry change refused because its input is wrong (dashboard.admin_store)
      +-- ReviewRefused  a data review step the rules refuse (dashboard.review)
"""

from __future__ import annotations

from envmon.errors import EnvmonError
from envmon.words import text


class DashboardError(EnvmonError):
    """Base of every error the dashboard raises on purpose."""


class Refused(DashboardError):
    """A change refused because of what was typed; people read why in their language (`page.<key>` with the
    params), the log and the command line in English (str())."""

    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        self.params = params
        super().__init__(self.words("en"))

    def words(self, locale: str) -> str:
        """Why, in the locale."""
        return text(locale, f"page.{self.key}").format(**self.params)
