"""A repeated or stale action (a double click, a page left open while someone else acted): the notice that says
what already happened, by whom and when, in the reader's language, instead of a bare refusal ("forbidden").

Each notice is worked out from the thing as it is now (the alert's row and events, the answer rounds, the mark,
the audit log), so it is true whoever acted first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from dashboard.errors import DashboardError
from envmon.words import text, word

# The alert page's actions a second click or a stale page can repeat (the `error` its redirect carries).
ALERT_ACTIONS = frozenset({"acknowledge", "resolve", "note", "answer_accept", "answer_ask_again"})
# A mark's state after a decision, and the notice that says it was already taken.
MARK_NOTICES = {"active": "repeat.mark_active", "rejected": "repeat.mark_rejected",
                "withdrawn": "repeat.mark_withdrawn", "pending": "repeat.mark_pending"}


@dataclass(frozen=True, slots=True)
class Notice:
    """A catalogue key (`{who}`, `{when}`, `{state}`, `{id}` filled in; most in the section `repeat`) and what fills
    it."""

    key: str
    who: str | None = None
    at: datetime | None = None
    state: str | None = None
    id: object = None

    def words(self, locale: str, when: Callable[[datetime | None], str]) -> str:
        """The sentence in the locale; `when` writes a time as the page does (local time)."""
        return text(locale, self.key).format(
            who=word(locale, "actor", self.who), when=when(self.at), state=word(locale, "state", self.state),
            id=self.id)


class AlreadyDone(DashboardError):
    """A change that was already made: the route shows `notice` instead of making it again."""

    def __init__(self, notice: Notice) -> None:
        super().__init__(notice.key)
        self.notice = notice


def alert_notice(action: str, alert: Mapping[str, Any], events: Sequence[Mapping[str, Any]],
                 answers: Sequence[Mapping[str, Any]]) -> Notice:
    """Why `action` on the alert was not taken: who did what first, else what its state now allows."""
    if action in ("answer_accept", "answer_ask_again"):
        return _answer_notice(answers)
    if action == "acknowledge" and alert["disposition"] is not None:
        return Notice("repeat.already_acknowledged", alert["acknowledged_by"], alert["acknowledged_at"])
    ended = [e for e in events if e["to_state"] == alert["state"] and e["to_state"] in ("resolved", "closed")]
    if ended:
        return Notice(f"repeat.already_{alert['state']}", ended[-1]["actor"], ended[-1]["time"])
    if action == "resolve" and alert["latched"] and alert["disposition"] is None:
        return Notice("repeat.needs_acknowledgement")
    return Notice("repeat.alert_state", state=alert["state"])


def _answer_notice(answers: Sequence[Mapping[str, Any]]) -> Notice:
    """The newest decision on the plant's answers (accepted, or asked again), else: nothing waits for one."""
    decided = [r for r in answers if r["decided_at"] is not None]
    if not decided:
        return Notice("page.answer_refused_no_decision")
    last = max(decided, key=lambda r: r["decided_at"])
    key = "repeat.answer_accepted" if last["state"] == "accepted" else "repeat.answer_asked_again"
    return Notice(key, last["decided_by"], last["decided_at"])


def mark_notice(mark: Mapping[str, Any]) -> Notice:
    """What became of a mark a decision was refused on: its state now, who put it there and when."""
    who = mark["decided_by"] or mark["proposed_by"]  # a mark active from its proposal has no decision
    at = mark["decided_at"] or mark["proposed_at"]
    return Notice(MARK_NOTICES.get(mark["state"], "page.review_not_pending"), who, at, id=mark["id"])


def last_audit(conn: psycopg.Connection, *, entity: str, key: str,
               actions: Sequence[str]) -> tuple[str, datetime] | None:
    """(who, when) of the newest audit entry of one of `actions` on the row, None when there is none."""
    row = conn.execute("SELECT actor, time FROM audit_log WHERE entity = %s AND entity_key = %s AND action = ANY(%s)"
                       " ORDER BY time DESC, id DESC LIMIT 1", (entity, key, list(actions))).fetchone()
    return (str(row[0]), row[1]) if row else None


def already(conn: psycopg.Connection, key: str, *, entity: str, entity_key: str,
            actions: Sequence[str]) -> AlreadyDone:
    """The error for a change the row already has: notice `key` with who made it and when (the audit log), or
    `key`_plain when no entry says (a row loaded that way from the registry file, a window that ran out)."""
    found = last_audit(conn, entity=entity, key=entity_key, actions=actions)
    if found is None:
        return AlreadyDone(Notice(f"{key}_plain", id=entity_key))
    return AlreadyDone(Notice(key, *found, id=entity_key))
