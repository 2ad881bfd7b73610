"""Migration 0009: `readings.flag` holds any one ASCII letter (unknown flags kept as sent), nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

INSERT = "INSERT INTO readings (time, device_id, pollutant, value, flag, seq) VALUES (%s, 1, 'w01001', 7.0, %s, 1)"


@pytest.mark.parametrize(
    ("flag", "stored"),
    [
        pytest.param("N", True, id="normal"),
        pytest.param("T", True, id="over-range"),
        pytest.param("P", True, id="hj-t-212-2005-power-failure"),
        pytest.param("z", True, id="lower-case-letter"),
        pytest.param("1", False, id="digit"),
        pytest.param("", False, id="empty"),
        pytest.param("NN", False, id="two-letters"),
        pytest.param("É", False, id="non-ascii-letter"),
        pytest.param("@", False, id="punctuation"),
    ],
)
def test_flag_column_takes_one_ascii_letter(db: psycopg.Connection, flag: str, stored: bool) -> None:
    when = datetime(2026, 11, 22, tzinfo=UTC)
    if stored:
        db.execute(INSERT, (when, flag))
        assert db.execute("SELECT flag FROM readings").fetchall() == [(flag,)]
    else:
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute(INSERT, (when, flag))
