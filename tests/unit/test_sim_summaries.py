"""Minute and hourly summaries of a simulated logger: statistics and HJ 212 flag roll-up."""

from __future__ import annotations

import pytest

from device_sim.samples import Sample
from device_sim.summaries import Summariser, rolled_up_flag

T0 = 1_795_000_020.0 - 1_795_000_020.0 % 3600  # the start of an hour


def _sample(offset: float, value: float, flag: str = "N") -> Sample:
    return Sample("M", 1, T0 + offset, ("w20117",), (value,), (flag,))


@pytest.mark.parametrize(
    ("flags", "flue_gas", "expected"),
    [
        pytest.param(["N", "N"], False, "N", id="water-all-normal"),
        pytest.param(["N", "C", "M"], False, "C", id="water-any-abnormal-marks-it"),
        pytest.param(["N", "N", "N", "D"], True, "N", id="gas-75-percent-valid"),
        pytest.param(["N", "N", "D", "D"], True, "D", id="gas-under-75-percent"),
    ],
)
def test_flags_roll_up_as_hj212_practice_has_it(flags: list[str], flue_gas: bool, expected: str) -> None:
    assert rolled_up_flag(flags, flue_gas) == expected


def test_a_minute_is_summarised_when_the_next_one_starts() -> None:
    summariser = Summariser("minute", is_flue_gas=False)
    assert summariser.add(_sample(0, 10.0)) is None
    assert summariser.add(_sample(30, 14.0, "C")) is None
    summary = summariser.add(_sample(60, 99.0))
    assert summary is not None
    assert (summary.basis, summary.begin_s, summary.avg, summary.low, summary.high, summary.flags) == (
        "minute", T0, (12.0,), (10.0,), (14.0,), ("C",))


def test_an_hour_is_summarised_once_at_its_end() -> None:
    summariser = Summariser("hour", is_flue_gas=True)
    closed = [s for k in range(0, 3601, 30) if (s := summariser.add(_sample(k, float(k)))) is not None]
    assert len(closed) == 1 and closed[0].begin_s == T0 and closed[0].avg == (1785.0,)


def test_minutes_without_samples_have_no_summary() -> None:
    summariser = Summariser("minute", is_flue_gas=False)
    summariser.add(_sample(0, 1.0))
    summary = summariser.add(_sample(300, 2.0))  # offline for four minutes
    assert summary is not None and summary.begin_s == T0
    assert summariser.add(_sample(330, 2.0)) is None
