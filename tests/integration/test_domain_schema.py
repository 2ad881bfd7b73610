"""The database's CHECK constraints and the one-open index use exactly the words envmon.domain defines."""

from __future__ import annotations

import re

import psycopg
import pytest

from envmon import domain


def _quoted_words(definition: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", definition))


def _check_of(conn: psycopg.Connection, table: str, column: str) -> set[str]:
    rows = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c'",
        [table]).fetchall()
    found = [str(r[0]) for r in rows if re.search(rf"\b{column}\b", str(r[0]))]
    assert len(found) == 1, found
    return _quoted_words(found[0])


@pytest.mark.parametrize(
    ("table", "column", "words"),
    [
        pytest.param("readings", "basis", domain.BASES, id="readings-basis"),
        pytest.param("limits", "basis", domain.LIMIT_BASES, id="limits-basis"),
        pytest.param("alerts", "category", domain.CATEGORIES, id="alerts-category"),
        pytest.param("alerts", "state", domain.ALERT_STATES, id="alerts-state"),
    ],
)
def test_check_constraints_match_the_vocabulary(
    db: psycopg.Connection, table: str, column: str, words: tuple[str, ...]
) -> None:
    assert _check_of(db, table, column) == set(words)


def test_one_open_alert_index_covers_the_active_states(db: psycopg.Connection) -> None:
    row = db.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'alerts_one_open'").fetchone()
    assert row is not None
    assert _quoted_words(str(row[0])) == set(domain.ACTIVE_STATES)
