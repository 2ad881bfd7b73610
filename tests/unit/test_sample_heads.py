"""ingest.rows.sample_heads: one row per sample, whatever the sample's size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.rows import Row, sample_heads

T = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
ARRIVED = T + timedelta(seconds=1)


def _sample(device: int, seq: int, codes: int, when: datetime = T) -> list[Row]:
    return [Row(when, device, f"c{n}", "instant", 1.0, "N", seq, ARRIVED) for n in range(codes)]


def test_each_sample_gives_its_first_row_once() -> None:
    rows = _sample(1, 5, 3) + _sample(2, 5, 2) + _sample(1, 6, 1) + _sample(1, 6, 2, T + timedelta(seconds=1))
    assert [(r.device_id, r.seq, r.pollutant, r.time) for r in sample_heads(rows)] == [
        (1, 5, "c0", T),
        (2, 5, "c0", T),
        (1, 6, "c0", T),
        (1, 6, "c0", T + timedelta(seconds=1)),  # same device and seq, another time object: a resent sample
    ]


def test_no_rows_no_heads() -> None:
    assert list(sample_heads([])) == []
