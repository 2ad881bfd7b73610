"""HJ 212 Appendix D averages: valid values only, minimum counts, flag roll-up, CST days, grace, duplicates."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from alerts.rules.averages import KIND_GAS, KIND_WATER, AverageBook
from alerts.rules.periods import ClosedPeriod, cst_day
from alerts.rules.policy import AveragesPolicy

HOUR0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC).timestamp()  # 10:00 CST
DAY_END = datetime(2026, 3, 2, 16, 0, tzinfo=UTC).timestamp()  # midnight CST


def book(kind: int = KIND_WATER, required: int = 1, **policy: float) -> AverageBook:
    return AverageBook(np.array([kind], dtype=np.int8), np.array([required]), AveragesPolicy(**policy))  # type: ignore[arg-type]


def add(b: AverageBook, offsets: list[float], values: list[float], flags: str | None = None,
        start: float = HOUR0, minute: bool = False) -> list[ClosedPeriod]:
    n = len(offsets)
    flag = np.array([ord(f) for f in (flags or "N" * n)], dtype=np.uint8)
    return b.add(np.zeros(n, dtype=np.int64), start + np.array(offsets, dtype=np.float64),
                 np.array(values, dtype=np.float64), flag, np.full(n, minute))


def hours(periods: list[ClosedPeriod]) -> list[ClosedPeriod]:
    return [p for p in periods if p.period == "hour"]


@pytest.mark.parametrize(
    ("values", "flags", "average", "valid", "flag"),
    [
        pytest.param([1.0], "N", 1.0, True, "N", id="one-valid-value-makes-a-wastewater-hour"),
        pytest.param([1.0, 3.0], "NN", 2.0, True, "N", id="mean-of-valid-values"),
        # HJ 212 roll-up: one abnormal value makes a wastewater hour abnormal, and it is not averaged.
        pytest.param([1.0, 9.0], "NM", 1.0, False, "M", id="a-flagged-value-makes-the-hour-abnormal-and-invalid"),
        pytest.param([9.0, 9.0], "DM", None, False, "D", id="no-valid-value-no-average"),
        pytest.param([1.0, 9.0], "NS", 1.0, False, "S", id="manual-values-do-not-count-and-mark-the-hour"),
        pytest.param([1.0, 9.0], "NP", 1.0, False, "D", id="an-unknown-flag-rolls-up-as-abnormal"),
    ],
)
def test_wastewater_hour(values: list[float], flags: str, average: float | None, valid: bool, flag: str) -> None:
    b = book(grace_seconds=0)
    add(b, [60.0 * i for i in range(len(values))], values, flags)
    (hour,) = hours(b.close_due(HOUR0 + 3600))
    assert (bool(hour.valid[0]), hour.flag[0]) == (valid, flag)
    assert np.isnan(hour.average[0]) if average is None else hour.average[0] == pytest.approx(average)


def test_policy_can_keep_the_valid_values_of_an_abnormal_wastewater_hour() -> None:
    b = book(grace_seconds=0, wastewater_abnormal_hour_invalid=False)
    add(b, [0.0, 60.0], [1.0, 9.0], "NC")
    (hour,) = hours(b.close_due(HOUR0 + 3600))
    assert (bool(hour.valid[0]), hour.flag[0], float(hour.average[0])) == (True, "C", 1.0)


@pytest.mark.parametrize(
    ("minutes", "valid"),
    [pytest.param(44, False, id="44-valid-minutes-too-few"), pytest.param(45, True, id="45-valid-minutes")],
)
def test_flue_gas_hour_needs_45_valid_minutes(minutes: int, valid: bool) -> None:
    b = book(KIND_GAS, grace_seconds=0)
    add(b, [60.0 * i for i in range(minutes)], [10.0] * minutes)
    (hour,) = hours(b.close_due(HOUR0 + 3600))
    assert bool(hour.valid[0]) is valid and int(hour.valid_count[0]) == minutes


def test_a_flue_gas_minute_needs_its_minimum_samples() -> None:
    b = book(KIND_GAS, required=2, grace_seconds=0)
    # 50 minutes with one sample each, none valid as a minute; 45 with two.
    add(b, [60.0 * i for i in range(50)], [10.0] * 50)
    add(b, [60.0 * i + 30 for i in range(45)], [10.0] * 45)
    (hour,) = hours(b.close_due(HOUR0 + 3600))
    assert int(hour.valid_count[0]) == 45 and bool(hour.valid[0])


def test_a_minute_basis_value_is_a_whole_minute() -> None:
    b = book(KIND_GAS, required=12, grace_seconds=0)
    add(b, [60.0 * i for i in range(45)], [10.0] * 45, minute=True)
    (hour,) = hours(b.close_due(HOUR0 + 3600))
    assert bool(hour.valid[0])


def test_flue_gas_hour_rolls_up_to_d_below_75_percent_normal() -> None:
    b = book(KIND_GAS, grace_seconds=0)
    add(b, [60.0 * i for i in range(60)], [10.0] * 60, "N" * 44 + "C" * 16)
    (hour,) = hours(b.close_due(HOUR0 + 3600))
    assert hour.flag[0] == "D"


def test_an_hour_closes_only_after_the_grace_period() -> None:
    b = book(grace_seconds=300)
    add(b, [0.0], [1.0])
    assert b.close_due(HOUR0 + 3600 + 299) == []
    assert len(hours(b.close_due(HOUR0 + 3600 + 300))) == 1
    assert b.close_due(HOUR0 + 3600 + 301) == []  # closed once


def test_late_data_within_grace_counts() -> None:
    b = book(grace_seconds=300)
    add(b, [0.0], [1.0])
    add(b, [3599.0], [3.0])  # arrives in the grace period
    (hour,) = hours(b.close_due(HOUR0 + 3900))
    assert hour.average[0] == pytest.approx(2.0)


def test_data_arriving_after_its_hour_closed_amends_the_hour_which_closes_again() -> None:
    """A device's stored samples after an outage, a resend, an HJ 212 history answer: the hour is judged again
    with them (it was judged without them, and with too few values it could not be judged at all)."""
    b = book(grace_seconds=300)
    add(b, [0.0], [1.0])
    (hour,) = hours(b.close_due(HOUR0 + 3900))
    assert hour.average[0] == pytest.approx(1.0)
    add(b, [1800.0], [100.0])
    assert b.close_due(HOUR0 + 3600 + 2 * 3600 - 1) != []  # closed again at the next step
    assert b.late_dropped == 0
    add(b, [2400.0, 1800.0], [4.0, 100.0])  # one new, one seen before
    (again,) = hours(b.close_due(HOUR0 + 3600 + 2 * 3600 - 1))
    assert again.average[0] == pytest.approx(35.0) and int(again.valid_count[0]) == 3
    assert hours(b.close_due(HOUR0 + 3600 + 2 * 3600 - 1)) == []  # nothing new: nothing closes again
    add(b, [1800.0], [100.0])  # seen: no amendment
    assert hours(b.close_due(HOUR0 + 3600 + 2 * 3600 - 1)) == []


def test_data_of_an_hour_that_has_left_the_book_is_dropped_and_counted() -> None:
    b = book(grace_seconds=0)
    add(b, [0.0], [1.0])
    add(b, [3 * 3600.0], [1.0])  # three hours on: the first hour's slot holds the new one
    add(b, [1800.0], [100.0])
    assert b.late_dropped == 1


def test_an_amended_hour_replaces_its_share_of_the_day_and_a_closed_day_closes_again() -> None:
    b = book(grace_seconds=0)
    start = DAY_END - 2 * 3600  # 22:00 and 23:00 CST
    add(b, [0.0], [1.0], start=start)
    add(b, [3600.0], [3.0], start=start)
    (day,) = [p for p in b.close_due(DAY_END) if p.period == "day"]
    assert day.average[0] == pytest.approx(2.0) and int(day.valid_count[0]) == 2
    add(b, [60.0], [5.0], start=start)  # the 22:00 hour is now (1 + 5) / 2 = 3
    closed = b.close_due(DAY_END + 60)
    assert [p.period for p in closed] == ["hour", "day"]
    assert closed[0].average[0] == pytest.approx(3.0)
    assert closed[1].average[0] == pytest.approx(3.0) and int(closed[1].valid_count[0]) == 2


def test_an_amended_hour_of_an_open_day_counts_once_in_the_day() -> None:
    b = book(grace_seconds=0)
    start = DAY_END - 86400
    add(b, [0.0], [1.0], start=start)
    add(b, [3600.0], [3.0], start=start)
    b.close_due(start + 2 * 3600)
    add(b, [60.0], [5.0], start=start)  # hour 0 becomes 3.0
    b.close_due(start + 2 * 3600 + 1)
    (day,) = [p for p in b.close_due(DAY_END) if p.period == "day"]
    assert day.average[0] == pytest.approx(3.0) and int(day.valid_count[0]) == 2


def test_a_reading_seen_twice_counts_once() -> None:
    b = book(grace_seconds=0)
    add(b, [0.0, 0.0, 60.0], [1.0, 1.0, 4.0])
    add(b, [0.0, 60.0], [1.0, 4.0])  # redelivered in a later batch
    (hour,) = hours(b.close_due(HOUR0 + 3600))
    assert hour.average[0] == pytest.approx(2.5) and int(hour.valid_count[0]) == 2


def test_a_new_hour_pushing_out_an_unclosed_one_closes_it_first() -> None:
    b = book(grace_seconds=10_000)
    add(b, [0.0], [1.0])
    closed = add(b, [3 * 3600.0], [2.0])
    assert [p.start_s for p in hours(closed)] == [HOUR0]


@pytest.mark.parametrize(
    ("kind", "valid_hours", "valid"),
    [
        pytest.param(KIND_WATER, 1, True, id="wastewater-day-from-one-valid-hour"),
        pytest.param(KIND_GAS, 19, False, id="flue-gas-19-hours-too-few"),
        pytest.param(KIND_GAS, 20, True, id="flue-gas-20-hours"),
    ],
)
def test_daily_validity(kind: int, valid_hours: int, valid: bool) -> None:
    b = book(kind, grace_seconds=0)
    day_start = DAY_END - 86400
    for h in range(valid_hours):
        add(b, [h * 3600.0 + 60 * m for m in range(60)], [2.0] * 60, start=day_start)
    (day,) = [p for p in b.close_due(DAY_END) if p.period == "day"]
    assert bool(day.valid[0]) is valid and int(day.valid_count[0]) == valid_hours
    assert day.average[0] == pytest.approx(2.0) and day.start_s == day_start


def test_days_are_china_standard_time_days() -> None:
    assert cst_day(DAY_END - 1) + 1 == cst_day(DAY_END)
    b = book(grace_seconds=0)
    add(b, [-3600.0, 0.0], [1.0, 5.0], start=DAY_END)  # 23:00 and 00:00 CST
    days = [p for p in b.close_due(DAY_END + 86400) if p.period == "day"]
    assert [d.average[0] for d in days] == [1.0, 5.0]


def test_daily_average_is_the_mean_of_valid_hourly_averages() -> None:
    b = book(grace_seconds=0)
    start = DAY_END - 86400
    add(b, [0.0, 1.0, 2.0], [1.0, 1.0, 1.0], start=start)  # hour 0: 1.0
    add(b, [3600.0], [4.0], start=start)  # hour 1: 4.0
    (day,) = [p for p in b.close_due(DAY_END) if p.period == "day"]
    assert day.average[0] == pytest.approx(2.5)


def test_state_round_trip_continues_the_open_hour() -> None:
    b = book(grace_seconds=0)
    add(b, [0.0], [1.0])
    state = json.loads(json.dumps(b.state()))
    again = book(grace_seconds=0)
    again.load(state, np.array([0]))
    add(again, [0.0, 60.0], [1.0, 3.0])  # the first reading is a duplicate of one before the restart
    (hour,) = hours(again.close_due(HOUR0 + 3600))
    assert hour.average[0] == pytest.approx(2.0)
