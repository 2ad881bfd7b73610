"""ingest.corrected: C = C' x (21 - O2ref) / (21 - O2) from the same sample's O2, with its guards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from envmon.columns import ReadingColumns, Row
from ingest.assemble import Assembled
from ingest.corrected import MAX_O2_PERCENT, derive_corrected
from ingest.directory import DeviceDirectory, DeviceInfo
from ingest.metrics import IngestMetrics

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
STACK, BOILER, WATER = 1, 2, 3
DIRECTORY = DeviceDirectory(
    [
        DeviceInfo(STACK, "HEATER", frozenset(), "mqtt", None, {}, 3.0),
        DeviceInfo(BOILER, "BOILER", frozenset(), "mqtt", None, {}, 9.0),
        DeviceInfo(WATER, "WATER", frozenset(), "mqtt", None),
    ]
)


def _row(device: int, code: str, value: float, *, flag: str = "N", seconds: int = 0, basis: str = "instant") -> Row:
    when = T0 + timedelta(seconds=seconds)
    return Row(when, device, code, basis, value, flag, seconds, when)


def _assembled(rows: list[Row], owners: list[int] | None = None) -> Assembled:
    item_index = np.array(owners if owners is not None else range(len(rows)), dtype=np.intp)
    return Assembled(ReadingColumns.from_rows(rows), item_index, [])


def _corrected(result: Assembled) -> dict[tuple[int, str, int], tuple[float, str]]:
    c = result.columns
    return {
        (int(c.device_id[i]), c.code_of(i), int(c.seq[i])): (float(c.value[i]), chr(int(c.flag[i])))
        for i in range(len(c))
        if c.code_of(i).endswith("z")
    }


@pytest.mark.parametrize(
    ("device", "measured", "o2", "expected"),
    [
        pytest.param(STACK, 100.0, 3.0, 100.0, id="at-the-reference-o2-nothing-changes"),
        pytest.param(STACK, 100.0, 12.0, 100.0 * 18 / 9, id="heater-3-percent-diluted-gas-doubles"),
        pytest.param(BOILER, 120.0, 6.0, 120.0 * 12 / 15, id="coal-boiler-9-percent-below-reference-lowers"),
        pytest.param(STACK, 50.0, 19.99, 50.0 * 18 / 1.01, id="just-below-the-guard-still-corrected"),
    ],
)
def test_corrected_value_follows_the_formula(device: int, measured: float, o2: float, expected: float) -> None:
    result = derive_corrected(_assembled([_row(device, "a21026", measured), _row(device, "a19001", o2)]), DIRECTORY)
    assert _corrected(result) == {(device, "a21026z", 0): (pytest.approx(expected), "N")}


@pytest.mark.parametrize(
    ("o2", "reason"),
    [
        pytest.param(MAX_O2_PERCENT, "o2_too_high", id="o2-at-the-guard"),
        pytest.param(20.95, "o2_too_high", id="o2-near-air"),
        pytest.param(21.0, "o2_too_high", id="o2-of-air-would-divide-by-zero"),
        pytest.param(25.0, "o2_too_high", id="o2-above-air-would-flip-the-sign"),
    ],
)
def test_no_corrected_value_when_the_stack_carries_air(o2: float, reason: str) -> None:
    metrics = IngestMetrics()
    rows = [_row(STACK, "a21026", 10.0), _row(STACK, "a21002", 20.0), _row(STACK, "a19001", o2)]
    result = derive_corrected(_assembled(rows), DIRECTORY, metrics)
    assert _corrected(result) == {}
    assert len(result.columns) == 3
    assert metrics.registry.get_sample_value("envmon_ingest_corrected_skipped_total", {"reason": reason}) == 2


def test_a_sample_without_o2_gets_no_corrected_value_and_is_counted() -> None:
    metrics = IngestMetrics()
    rows = [_row(STACK, "a21026", 10.0), _row(STACK, "a19001", 8.0, seconds=30)]  # O2 of another sample
    result = derive_corrected(_assembled(rows), DIRECTORY, metrics)
    assert _corrected(result) == {}
    assert metrics.registry.get_sample_value("envmon_ingest_corrected_skipped_total", {"reason": "no_o2"}) == 1


def test_a_corrected_value_the_device_sent_is_kept_not_recomputed() -> None:
    rows = [_row(STACK, "a21026", 100.0), _row(STACK, "a21026z", 150.0), _row(STACK, "a19001", 12.0)]
    result = derive_corrected(_assembled(rows), DIRECTORY)
    assert _corrected(result) == {(STACK, "a21026z", 0): (150.0, "N")}
    assert len(result.columns) == 3


def test_devices_without_an_o2_reference_and_other_channels_are_left_alone() -> None:
    rows = [_row(WATER, "a21026", 100.0), _row(WATER, "a19001", 10.0), _row(STACK, "a01012", 120.0),
            _row(STACK, "a19001", 10.0)]
    result = derive_corrected(_assembled(rows), DIRECTORY)
    assert _corrected(result) == {}


@pytest.mark.parametrize(
    ("measured_flag", "o2_flag", "expected"),
    [
        pytest.param("N", "N", "N", id="both-normal"),
        pytest.param("T", "N", "T", id="measured-over-range-stays-over-range"),
        pytest.param("N", "D", "D", id="o2-analyser-fault-marks-the-corrected-value"),
        pytest.param("C", "M", "C", id="the-measured-flag-wins"),
    ],
)
def test_the_corrected_value_carries_the_abnormal_flag_of_its_inputs(measured_flag: str, o2_flag: str, expected: str) -> None:
    rows = [_row(STACK, "a34013", 5.0, flag=measured_flag), _row(STACK, "a19001", 12.0, flag=o2_flag)]
    [(value, flag)] = _corrected(derive_corrected(_assembled(rows), DIRECTORY)).values()
    assert (value, flag) == (pytest.approx(10.0), expected)


def test_derived_readings_stay_with_their_message_in_item_order() -> None:
    rows = [
        _row(STACK, "a21026", 10.0), _row(STACK, "a19001", 12.0),  # item 0
        _row(BOILER, "a21002", 30.0, seconds=5), _row(BOILER, "a19001", 9.0, seconds=5),  # item 1
        _row(STACK, "a21026", 20.0, seconds=30, basis="minute"), _row(STACK, "a19001", 3.0, seconds=30, basis="minute"),
    ]
    result = derive_corrected(_assembled(rows, [0, 0, 1, 1, 2, 2]), DIRECTORY)
    assert result.item_index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    c = result.columns
    assert [c.code_of(i) for i in range(len(c))] == [
        "a21026", "a19001", "a21026z", "a21002", "a19001", "a21002z", "a21026", "a19001", "a21026z",
    ]
    assert c.value[[2, 5, 8]].tolist() == pytest.approx([20.0, 30.0, 20.0])
    assert c.basis[8] == c.basis[6]


def test_a_batch_without_flue_gas_is_returned_as_it_came() -> None:
    assembled = _assembled([_row(WATER, "w20117", 0.05)])
    assert derive_corrected(assembled, DIRECTORY) is assembled
