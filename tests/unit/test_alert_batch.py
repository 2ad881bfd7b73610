"""Batches from ingest rows and from replay CSV: canonical units, time order, strict lines."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from alerts.batch import ReplayInputError, batch_end, batch_from_csv, sanitize_batch, split_batch
from alerts.model import LimitSpec
from alerts.rules.engine import Engine
from alerts.rules.policy import load_policy
from alerts.rules.registry import EngineRegistry
from envmon.columns import ReadingColumns, Row
from tests.unit.test_alert_engine import device, limit

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
IDS = {"MN001": 1, "MN002": 2}
HEADER = "time,device,pollutant,value,flag\n"


def csv_batches(body: str, step_seconds: float = 1.0) -> list:  # type: ignore[type-arg]
    return list(batch_from_csv(io.StringIO(HEADER + body), IDS, step_seconds=step_seconds))


@pytest.mark.parametrize(
    ("values", "flags", "kept_values", "kept_flags", "dropped"),
    [
        pytest.param([0.2, 0.3], "NM", [0.2, 0.3], "NM", 0, id="clean-batch-unchanged"),
        pytest.param([0.2, float("nan"), float("inf")], "NNN", [0.2], "N", 2, id="non-finite-values-dropped"),
        pytest.param([0.2, 0.3], "N\x00", [0.2, 0.3], "N?", 0, id="nul-flag-judged-as-unknown"),
        pytest.param([float("-inf"), 0.3], "\x7fN", [0.3], "N", 1, id="both-at-once-rows-stay-aligned"),
    ],
)
def test_sanitize_drops_what_nothing_can_judge_and_keeps_rows_aligned(
    values: list[float], flags: str, kept_values: list[float], kept_flags: str, dropped: int
) -> None:
    rows = [Row(T0 + timedelta(seconds=n), 1, "w20117", "instant", v, f, n, T0) for n, (v, f) in enumerate(zip(values, flags, strict=True))]
    got, count = sanitize_batch(ReadingColumns.from_rows(rows))
    assert got.value.tolist() == kept_values and bytes(got.flag.tolist()).decode() == kept_flags and count == dropped
    assert len(got.seq) == len(got.time_us) == len(got.received_us) == len(kept_values)


def test_split_keeps_every_row_once_in_order() -> None:
    rows = [Row(T0 + timedelta(seconds=n), n, "w20117", "instant", n * 0.1, "N", n, T0) for n in range(5)]
    first, second = split_batch(ReadingColumns.from_rows(rows))
    assert first.device_id.tolist() + second.device_id.tolist() == [0, 1, 2, 3, 4] and len(first) == 2


@pytest.mark.parametrize(
    ("code", "sent", "canonical"),
    [
        pytest.param("w20111", 20.0, 0.02, id="mercury-ug-per-litre-to-mg"),
        pytest.param("w20117", 150.0, 0.15, id="hexavalent-chromium-ug-to-mg"),
        pytest.param("w20116", 0.4, 0.4, id="total-chromium-already-mg"),
        pytest.param("B01", 3.0, 3.0, id="legacy-flow-code"),
    ],
)
def test_csv_values_become_canonical_units(code: str, sent: float, canonical: float) -> None:
    (b,) = csv_batches(f"2026-03-02T09:00:00+08:00,MN001,{code},{sent},N\n")
    assert b.value.tolist() == [pytest.approx(canonical)]
    assert b.time_us.tolist() == [round(T0.timestamp() * 1e6)]


def test_csv_yields_one_batch_per_simulated_step_in_time_order() -> None:
    body = ("2026-03-02T01:00:00Z,MN001,w20117,1,N\n2026-03-02T01:00:00.5Z,MN002,w20117,1,\n"
            "2026-03-02T01:00:01Z,MN001,w20117,1,N\n2026-03-02T01:00:05Z,MN001,w20117,1,D\n")
    batches = csv_batches(body)
    assert [len(b) for b in batches] == [2, 1, 1]
    assert [batch_end(b) for b in batches] == [T0 + timedelta(seconds=s) for s in (0.5, 1, 5)]
    assert batches[0].flag.tolist() == [ord("N"), ord("N")]  # an empty flag is N
    assert [len(b) for b in csv_batches(body, step_seconds=10)] == [4]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("2026-03-02T01:00:00Z,NOPE,w20117,1,N", "line 2: unknown device 'NOPE'", id="unknown-device"),
        pytest.param("2026-03-02T01:00:00Z,MN001,x1,1,N", "line 2: unknown pollutant 'x1'", id="unknown-pollutant"),
        pytest.param("2026-03-02T01:00:00,MN001,w20117,1,N", "line 2: time", id="naive-time"),
        pytest.param("yesterday,MN001,w20117,1,N", "line 2: time 'yesterday'", id="bad-time"),
        pytest.param("2026-03-02T01:00:00Z,MN001,w20117,lots,N", "line 2: value 'lots'", id="bad-value"),
        pytest.param("2026-03-02T01:00:00Z,MN001,w20117,1,X", "line 2: unknown data flag 'X'", id="bad-flag"),
        pytest.param("2026-03-02T01:00:00Z,MN001,w20117,1", "line 2: expected 5 columns", id="short-line"),
    ],
)
def test_csv_errors_name_the_line(line: str, message: str) -> None:
    with pytest.raises(ReplayInputError, match=message):
        csv_batches(line + "\n")


def test_csv_must_be_sorted_by_time() -> None:
    with pytest.raises(ReplayInputError, match="line 3: not sorted by time"):
        csv_batches("2026-03-02T01:00:05Z,MN001,w20117,1,N\n2026-03-02T01:00:00Z,MN001,w20117,1,N\n")


def test_csv_needs_its_header() -> None:
    with pytest.raises(ReplayInputError, match="line 1: header"):
        list(batch_from_csv(io.StringIO("a,b,c\n"), IDS))


def test_replayed_mercury_in_ug_per_litre_trips_a_mg_per_litre_limit() -> None:
    lim: LimitSpec = limit(1, "w20111", upper=0.01, warning_ratio=0.8, basis="instant", limit_id=4)
    reg = EngineRegistry({1: device(1, "water_analyser", ("w20111",))}, [lim])
    engine = Engine(reg, load_policy("[rules.instant]\nhold_samples = 1"))
    body = "2026-03-02T01:00:00Z,MN001,w20111,9,N\n2026-03-02T01:00:10Z,MN001,w20111,20,N\n"
    out = []
    for b in csv_batches(body):
        out += engine.evaluate(b, batch_end(b))
    got = [(str(t.kind), str(t.severity), round(t.value or 0.0, 9)) for t in out]
    assert got == [("open", "warning", 0.009), ("severity", "exceedance", 0.02)]
