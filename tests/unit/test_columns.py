"""envmon.columns: readings as arrays, from rows, samples, subsets and concatenation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from envmon.columns import ReadingColumns, concat_columns, datetime_us

T = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
ARRIVED = T + timedelta(seconds=1)


def _sample(device: int, seq: int, codes: list[str], when: datetime = T, basis: str = "instant") -> list[tuple]:  # type: ignore[type-arg]
    return [(when, device, code, basis, 1.0 + n, "N", seq, ARRIVED) for n, code in enumerate(codes)]


def test_rows_become_columns_with_a_sorted_codes_table() -> None:
    rows = _sample(7, 5, ["w20117", "w01001"]) + [(T, 9, "a21026", "hour", 3.5, "C", 6, ARRIVED)]
    c = ReadingColumns.from_rows(rows)
    assert c.codes == ("a21026", "w01001", "w20117")
    assert [c.code_of(i) for i in range(len(c))] == ["w20117", "w01001", "a21026"]
    assert c.device_id.tolist() == [7, 7, 9] and c.seq.tolist() == [5, 5, 6]
    assert c.basis.tolist() == [0, 0, 2] and bytes(c.flag).decode() == "NNC"
    assert c.time_us.tolist() == [datetime_us(T)] * 3 and c.received_us[0] == datetime_us(ARRIVED)


def test_each_sample_starts_where_device_seq_time_or_basis_change() -> None:
    rows = (
        _sample(1, 5, ["a", "b", "c"])
        + _sample(2, 5, ["a", "b"])
        + _sample(1, 6, ["a"])
        + _sample(1, 6, ["a", "b"], T + timedelta(seconds=1))  # same device and seq, another time: a resent sample
        + _sample(1, 6, ["a"], T + timedelta(seconds=1), "hour")
    )
    assert ReadingColumns.from_rows(rows).sample_starts().tolist() == [0, 3, 5, 6, 8]


def test_no_readings_no_samples() -> None:
    empty = ReadingColumns.empty()
    assert len(empty) == 0 and empty.sample_starts().tolist() == []


def test_microseconds_are_exact() -> None:
    t = datetime(2026, 11, 22, 4, 0, 0, 999_999, tzinfo=UTC)
    assert datetime_us(t) == 1_795_320_000_999_999


def test_concatenation_merges_the_codes_tables_and_keeps_order() -> None:
    a = ReadingColumns.from_rows(_sample(1, 1, ["w20117", "w01001"]))
    b = ReadingColumns.from_rows(_sample(2, 1, ["a21026", "w20117"]))
    joined = concat_columns([a, ReadingColumns.empty(), b])
    assert [joined.code_of(i) for i in range(len(joined))] == ["w20117", "w01001", "a21026", "w20117"]
    assert joined.device_id.tolist() == [1, 1, 2, 2] and joined.value.tolist() == [1.0, 2.0, 1.0, 2.0]


def test_take_keeps_the_codes_table() -> None:
    c = ReadingColumns.from_rows(_sample(1, 1, ["w20117", "w01001", "w00000"]))
    part = c.take(np.array([2, 0]))
    assert part.codes == c.codes and [part.code_of(i) for i in range(2)] == ["w00000", "w20117"]
