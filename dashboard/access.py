"""Who may do what, and which plants a person sees: roles, permissions and the SQL scope clause.

Every query that returns plant data adds `scope_clause(user, alias)` on the `sites` row it reaches,
so scoping holds in the database answer, not only in the page. Admins see every plant; other roles
see the districts and plants listed on their user row, and nothing when both lists are empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "operator", "inspector", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "inspector", "admin")
Action = Literal["read", "alert.act", "alert.enforce", "admin", "data.review", "data.approve", "forward.read"]

PERMISSIONS: dict[Action, frozenset[str]] = {
    "read": frozenset(ROLES),
    # Acknowledge, note and resolve alerts.
    "alert.act": frozenset({"operator", "inspector", "admin"}),
    # Opening an enforcement case is an inspector's decision, not the control room's.
    "alert.enforce": frozenset({"inspector", "admin"}),
    "admin": frozenset({"admin"}),
    # Mark periods of data as maintenance, calibration, fault or invalid (data review).
    "data.review": frozenset({"operator", "inspector", "admin"}),
    # The second person of the four-eyes rule: a mark that hides an exceedance needs an inspector's approval.
    "data.approve": frozenset({"inspector", "admin"}),
    # The upstream forwarding page: the bureau's inspectors watch what reaches the province; admins configure it.
    "forward.read": frozenset({"inspector", "admin"}),
}


@dataclass(frozen=True, slots=True)
class User:
    """The signed-in person, as the session found them."""

    id: int
    username: str
    display_name: str
    role: Role
    districts: tuple[str, ...]
    site_codes: tuple[str, ...]


def can(role: str, action: Action) -> bool:
    """True when the role may perform the action."""
    return role in PERMISSIONS[action]


def scope_clause(user: User, alias: str = "s") -> tuple[str, dict[str, object]]:
    """A SQL condition on the sites row `alias` limiting it to the user's plants, with its parameters."""
    if user.role == "admin":
        return "TRUE", {}
    condition = f"({alias}.district = ANY(%(scope_districts)s) OR {alias}.code = ANY(%(scope_sites)s))"
    return condition, {"scope_districts": list(user.districts), "scope_sites": list(user.site_codes)}


def sees_site(user: User, district: str, site_code: str) -> bool:
    """The same rule as scope_clause, for an already loaded plant (live events)."""
    return user.role == "admin" or district in user.districts or site_code in user.site_codes
