"""Plain PostgreSQL's roll-up views (migrations 0032, 0035) read their materialized marks once per query: as
InitPlan parameters, never as a function call in a scan's condition or filter, where it ran once per row (a daily
compliance report's hourly counts took 7-12 s on a plant with 120 days; 0.4 s with the mark read once)."""

from __future__ import annotations

import psycopg
import pytest

QUERIES = [
    pytest.param("SELECT * FROM readings_1m WHERE device_id = ANY('{1,2}') AND basis = 'instant' "
                 "AND bucket >= now() - INTERVAL '1 hour'", id="minutes"),
    pytest.param("SELECT device_id, pollutant, sum(sample_count) FROM readings_1h WHERE device_id = ANY('{1,2}') "
                 "AND basis = 'instant' AND bucket >= now() - INTERVAL '1 day' AND bucket < now() GROUP BY 1, 2",
                 id="hours-validity-counts"),
    pytest.param("SELECT max(bucket) FROM readings_1d WHERE device_id = 1 AND pollutant = 'w20117' "
                 "AND basis = 'instant' AND bucket < now()", id="days-newest-of-a-series"),
]


@pytest.mark.parametrize("query", QUERIES)
def test_roll_up_views_read_their_marks_once(db: psycopg.Connection, query: str) -> None:
    plan = [r[0] for r in db.execute("EXPLAIN (VERBOSE) " + query).fetchall()]
    per_row = [line for line in plan if ("Cond:" in line or "Filter:" in line) and "readings_rollup_until(" in line]
    assert not per_row, "\n".join(plan)
