"""The dashboard error tree; the app turns the request errors into HTTP answers (dashboard.app).

DashboardError (an EnvmonError)
 +-- NotSignedIn      no live session (pages redirect to the login, the API answers 401)
 +-- Forbidden        signed in, but the role may not do this (403)
 +-- NotFound         missing, or outside the user's scope (404)
 +-- Conflict         the action does not fit the thing's state (409)
 +-- BadRequest       malformed input the routes check themselves (400)
 +-- ActionRefused    an alert action not taken (dashboard.alert_queue: ActionForbidden, ActionConflict)
 +-- UserError        a user that cannot be created or changed as asked (dashboard.users)
 +-- AdminError       a registry change refused because its input is wrong (dashboard.admin_store)
"""

from __future__ import annotations

from envmon.errors import EnvmonError


class DashboardError(EnvmonError):
    """Base of every error the dashboard raises on purpose."""
