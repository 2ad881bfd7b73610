"""Derive oxygen-corrected flue-gas concentrations (折算浓度) for devices that send only measured values.

The flue-gas standards judge SO2, NOx and particulate at a reference oxygen content, e.g. GB 13271-2014
(boilers: 9 % coal, 3.5 % oil and gas) or GB 31571-2015 (process heaters: 3 %):

    C = C' x (21 - O2ref) / (21 - O2)

C' is the measured concentration, O2 the measured oxygen (a19001) of the same sample (same device,
time and basis), O2ref the device's `o2_reference_percent` from the registry. The corrected value is
stored as its own series (`a21026z` ...; envmon.catalogue). A corrected value the device sent itself
(HJ 212 `ZsRtd`/`ZsAvg`, or the `z` code over MQTT) is kept and never recomputed.

No corrected value is derived when O2 is at or above MAX_O2_PERCENT: near 21 % the divisor goes to
zero and the stack carries air, not flue gas (stopped or diluted); such readings are counted
(`envmon_ingest_corrected_skipped{reason="o2_too_high"}`) and logged. A measured reading whose sample
has no O2 reading gets no corrected value either (reason `no_o2`). The flag of a derived value is
the measured value's flag, else the O2 reading's, so an abnormal input never yields a "normal"
corrected value.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter

from envmon.catalogue import Catalogue, load_catalogue
from envmon.columns import ReadingColumns
from ingest.assemble import Assembled
from ingest.directory import DeviceDirectory
from ingest.metrics import IngestMetrics

log = logging.getLogger(__name__)

O2_CODE = "a19001"
AIR_O2_PERCENT = 21.0
# At or above this O2 no corrected value is derived: the correction factor passes 12x (at O2ref 9 %)
# and the sample is air rather than flue gas. A setting, not a value from the standards [U].
MAX_O2_PERCENT = 20.0
_N = ord("N")
_counters: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which readings of a batch feed a derivation: measured rows, their O2 row, their corrected code."""

    measured: npt.NDArray[np.intp]
    o2: npt.NDArray[np.intp]
    corrected: npt.NDArray[np.int16]
    o2_reference: npt.NDArray[np.float64]


def derive_corrected(
    assembled: Assembled,
    directory: DeviceDirectory,
    metrics: IngestMetrics | None = None,
    catalogue: Catalogue | None = None,
) -> Assembled:
    """The batch with a corrected reading added for each measured flue-gas reading that can have one."""
    columns = assembled.columns
    if not directory.o2_reference_by_id or O2_CODE not in columns.codes or not len(columns):
        return assembled
    catalogue = catalogue or load_catalogue()
    codes = tuple(sorted({*columns.codes, *catalogue.corrected.values()}))
    columns = _recode(columns, codes)
    plan = _plan(columns, directory, catalogue, metrics)
    if plan is None:
        return assembled
    derived, item_index = _derive(columns, assembled.item_index, plan, metrics)
    if not len(derived):
        return assembled
    return _insert(Assembled(columns, assembled.item_index, assembled.quarantine), derived, item_index)


def _insert(assembled: Assembled, derived: ReadingColumns, owners: npt.NDArray[np.intp]) -> Assembled:
    """Derived readings placed after the last reading of their item (item_index stays sorted)."""
    n, k = len(assembled.item_index), len(owners)
    at = np.searchsorted(assembled.item_index, owners, side="right")  # ascending: owners are in item order
    new_pos = at + np.arange(k)
    old_pos = np.arange(n) + np.searchsorted(at, np.arange(n), side="right")

    def put(existing: npt.NDArray[Any], added: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out = np.empty(n + k, dtype=existing.dtype)
        out[old_pos] = existing
        out[new_pos] = added
        return out

    c = assembled.columns
    merged = ReadingColumns(
        c.codes, put(c.time_us, derived.time_us), put(c.device_id, derived.device_id),
        put(c.pollutant, derived.pollutant), put(c.basis, derived.basis), put(c.value, derived.value),
        put(c.flag, derived.flag), put(c.seq, derived.seq), put(c.received_us, derived.received_us),
    )
    return Assembled(merged, put(assembled.item_index, owners), assembled.quarantine)


def _recode(columns: ReadingColumns, codes: tuple[str, ...]) -> ReadingColumns:
    """The same readings indexing a wider codes table (so derived codes have a place)."""
    if codes == columns.codes:
        return columns
    index = {c: n for n, c in enumerate(codes)}
    mapping = np.array([index[c] for c in columns.codes], dtype=np.int16)
    return ReadingColumns(
        codes, columns.time_us, columns.device_id, mapping[columns.pollutant], columns.basis, columns.value,
        columns.flag, columns.seq, columns.received_us,
    )


def _sample_keys(columns: ReadingColumns, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
    """One integer per (device, time, basis) of these readings: readings of one sample share it."""
    _, time_rank = np.unique(columns.time_us[rows], return_inverse=True)
    devices = int(columns.device_id[rows].max()) + 1
    keys: npt.NDArray[np.int64] = (
        time_rank.astype(np.int64) * devices + columns.device_id[rows]
    ) * 4 + columns.basis[rows]
    return keys


def _references(columns: ReadingColumns, directory: DeviceDirectory) -> npt.NDArray[np.float64]:
    """Each reading's device reference O2 (NaN for devices without one)."""
    by_id = directory.o2_reference_by_id
    size = max(int(columns.device_id.max()), max(by_id)) + 1
    lookup = np.full(size, np.nan)
    lookup[list(by_id)] = list(by_id.values())
    found: npt.NDArray[np.float64] = lookup[np.clip(columns.device_id, 0, size - 1)]
    return found


def _plan(
    columns: ReadingColumns, directory: DeviceDirectory, catalogue: Catalogue, metrics: IngestMetrics | None
) -> _Plan | None:
    """Measured readings of devices with an O2 reference, matched to their sample's O2 reading."""
    codes = columns.codes
    to_corrected = np.full(len(codes), -1, dtype=np.int16)
    for measured, corrected in catalogue.corrected.items():
        if measured in codes:
            to_corrected[codes.index(measured)] = codes.index(corrected)
    o2_code = codes.index(O2_CODE)
    # Measured flue gas, O2 and corrected codes: a look-up per code, not a search per reading.
    involved_code = to_corrected >= 0
    involved_code[to_corrected[to_corrected >= 0]] = True
    involved_code[o2_code] = True
    involved = involved_code[columns.pollutant]
    o2_ref = _references(columns, directory)
    rows = np.flatnonzero(involved & ~np.isnan(o2_ref))  # only these readings matter, and few do
    if not len(rows):
        return None
    keys = _sample_keys(columns, rows)
    local = np.flatnonzero(to_corrected[columns.pollutant[rows]] >= 0)
    local = local[~_sent_already(columns, rows, keys, local, to_corrected)]
    o2_local = np.flatnonzero(columns.pollutant[rows] == o2_code)
    if not len(local) or not len(o2_local):
        _count(metrics, "no_o2", len(local))
        return None
    o2_sorted = o2_local[np.argsort(keys[o2_local], kind="stable")]
    position = np.minimum(np.searchsorted(keys[o2_sorted], keys[local]), len(o2_sorted) - 1)
    has_o2 = keys[o2_sorted][position] == keys[local]
    _count(metrics, "no_o2", int((~has_o2).sum()))
    chosen = rows[local[has_o2]]
    return _Plan(chosen, rows[o2_sorted[position[has_o2]]], to_corrected[columns.pollutant[chosen]], o2_ref[chosen])


def _sent_already(
    columns: ReadingColumns, rows: npt.NDArray[np.intp], keys: npt.NDArray[np.int64], local: npt.NDArray[np.intp],
    to_corrected: npt.NDArray[np.int16],
) -> npt.NDArray[np.bool_]:
    """Whether the device sent the corrected value of a candidate itself in the same sample."""
    width = len(columns.codes)
    pollutant = columns.pollutant[rows]
    present = keys * width + pollutant
    wanted = keys[local] * width + to_corrected[pollutant[local]]
    return np.isin(wanted, present, kind="sort")


def _derive(
    columns: ReadingColumns, item_index: npt.NDArray[np.intp], plan: _Plan, metrics: IngestMetrics | None
) -> tuple[ReadingColumns, npt.NDArray[np.intp]]:
    """The corrected readings of a plan, and which item each belongs to; guarded samples are counted."""
    o2 = columns.value[plan.o2]
    usable = o2 < MAX_O2_PERCENT
    if not usable.all():
        _count_skipped(columns, plan.measured[~usable], o2[~usable], metrics)
    rows, o2_rows = plan.measured[usable], plan.o2[usable]
    factor = (AIR_O2_PERCENT - plan.o2_reference[usable]) / (AIR_O2_PERCENT - o2[usable])
    flag = np.where(columns.flag[rows] != _N, columns.flag[rows], columns.flag[o2_rows])
    derived = ReadingColumns(
        columns.codes, columns.time_us[rows], columns.device_id[rows], plan.corrected[usable], columns.basis[rows],
        columns.value[rows] * factor, flag.astype(np.uint8), columns.seq[rows], columns.received_us[rows],
    )
    return derived, item_index[rows]


def _count_skipped(
    columns: ReadingColumns, rows: npt.NDArray[np.intp], o2: npt.NDArray[np.float64], metrics: IngestMetrics | None
) -> None:
    """Count and log the measured readings left without a corrected value because O2 is too high."""
    _count(metrics, "o2_too_high", len(rows))
    devices = sorted({int(d) for d in columns.device_id[rows]})
    log.info(
        "no corrected value for %d readings: O2 %.1f-%.1f %% is at or above %.1f %% (devices %s)",
        len(rows), float(o2.min()), float(o2.max()), MAX_O2_PERCENT, devices,
    )


def _count(metrics: IngestMetrics | None, reason: str, readings: int) -> None:
    """Add to the count of measured readings left without a corrected value, by reason."""
    if metrics is not None and readings:
        _skipped_counter(metrics.registry).labels(reason).inc(readings)


def _skipped_counter(registry: CollectorRegistry) -> Counter:
    """The pipeline registry's counter of corrected values not derived, by reason."""
    counter = _counters.get(registry)
    if counter is None:
        counter = Counter(
            "envmon_ingest_corrected_skipped", "Measured flue-gas readings left without a corrected value",
            ["reason"], registry=registry,
        )
        _counters[registry] = counter
    return counter
