"""The limit in force at a device, as the reports and the plant page choose it (envmon/registry/in_force.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from alerts.reports.facts import applicable_limit
from envmon.registry.in_force import limit_in_force
from tests.conftest import example_district_database

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
CRVI = "w20117"
# The plant page's choice for one device and pollutant, with the shared rule.
_PAGE_SQL = (
    "SELECT l.upper_value FROM devices d CROSS JOIN LATERAL unnest(d.pollutants) AS dp(code)"
    " LEFT JOIN LATERAL {limit} l ON true WHERE d.mn = %(mn)s AND dp.code = %(pollutant)s"
).format(limit=limit_in_force(("instant", "hour", "day")))


def _add_outfall_device(conn: psycopg.Connection, mn: str, site_mn: str) -> None:
    """A device at the plant's outfall measuring Cr(VI): the GB 21900 limit binds at the workshop outlet only."""
    conn.execute(
        "INSERT INTO devices (mn, site_id, point_kind, point_name_zh, point_name_en, kind, transport, system_code,"
        " pollutants, reporting_interval_seconds)"
        " SELECT %s, site_id, 'outfall', '总排口', 'Outfall', 'water_analyser', 'mqtt', '32', %s, 60"
        " FROM devices WHERE mn = %s",
        (mn, [CRVI], site_mn),
    )


@pytest.fixture(scope="module")
def district(admin_url: str) -> Iterator[psycopg.Connection]:
    """The example district (read only by the cases) with an outfall device measuring Cr(VI) added."""
    with psycopg.connect(example_district_database(admin_url, "envmon_limit_in_force")) as conn:
        _add_outfall_device(conn, "310120EP001W09", "310120EP001W01")
        yield conn


@pytest.mark.parametrize(
    ("mn", "upper_mg_l"),
    [
        pytest.param("310120EP001W01", 0.1, id="workshop-outlet-gets-the-site-limit"),
        pytest.param("310120EP003W01", 0.05, id="device-permit-beats-the-site-limit"),
        pytest.param("310120EP001W09", None, id="outfall-is-outside-a-workshop-outlet-limit"),
    ],
)
def test_report_and_plant_page_choose_the_limit_that_applies_at_the_point(
    district: psycopg.Connection, mn: str, upper_mg_l: float | None
) -> None:
    device = district.execute("SELECT id FROM devices WHERE mn = %s", (mn,)).fetchone()
    assert device is not None
    limit = applicable_limit(district, pollutant=CRVI, device_id=device[0], at=NOW)
    page = district.execute(_PAGE_SQL, {"mn": mn, "pollutant": CRVI, "now": NOW}).fetchone()
    assert page is not None
    assert (None if limit is None else limit.upper, page[0]) == (upper_mg_l, upper_mg_l)
