"""Where each device and pollutant sits in the engine's arrays, and which keys are not inactive.

A series is one (device, pollutant): row `slot * n_codes + column` of every per-series array. `EngineFrame` holds
the facts of a registry that no reading changes (layout, limits, measuring ranges, flow thresholds, silence
windows); it is rebuilt when the registry changes. `ActiveMasks` marks, per rule, the series and devices whose
key is not inactive: the vectorised rules take those rows through Python too, since a normal reading may clear
them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from alerts.model import AlertKey
from alerts.rules.limits import LimitTable, SeriesLayout
from alerts.rules.policy import Policy
from alerts.rules.registry import EngineRegistry
from envmon.catalogue import Pollutant

# Rules whose condition is kept per series, with an "is this key not inactive" mask each.
SERIES_RULES = ("instant", "gas", "zero_flow", "constant", "negative", "implausible", "hour_avg", "day_avg")
# Rules kept per device (key pollutant WHOLE_DEVICE) from the flags of all its series: the letters that
# raise each, tracked per series so the alert lists every pollutant concerned.
DEVICE_FLAG_RULES = ("flag", "manual")
RULE_ROW = {name: i for i, name in enumerate(SERIES_RULES)}
N, S, T = ord("N"), ord("S"), ord("T")
FLOW_CODES = {"w00000": "water_flow_l_s", "a00000": "gas_flow_m3_s"}
CONCENTRATION_UNITS = frozenset({"mg/L", "mg/m3"})

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
UInt8Array = npt.NDArray[np.uint8]  # flag letters


class EngineFrame:
    """The fixed facts of one registry, as arrays indexed by series or device slot."""

    def __init__(self, registry: EngineRegistry, policy: Policy, pollutants: Sequence[Pollutant]) -> None:
        self.registry = registry
        self.pollutants = pollutants
        self.layout = SeriesLayout(tuple(sorted(registry.devices)), tuple(p.code for p in pollutants))
        self.limits = LimitTable(registry.limits, self.layout, rounded=policy.judging.comparison == "rounded")
        self.n_codes = len(self.layout.codes)
        self.slot_of = {d: i for i, d in enumerate(self.layout.device_ids)}
        self.col_of = {c: i for i, c in enumerate(self.layout.codes)}
        self._code_cache: dict[tuple[str, ...], IntArray] = {}
        self.is_conc = np.array([p.canonical_unit in CONCENTRATION_UNITS for p in pollutants])
        self.is_flow = np.array([c in FLOW_CODES for c in self.layout.codes])
        self.water_flow_col = self.col_of.get("w00000", -1)
        # Devices whose outfall flow weighs their wastewater means (HJ 356-2019).
        self.weighs = np.array([policy.averages.flow_weighted and "w00000" in registry.devices[d].pollutants
                                for d in self.layout.device_ids], dtype=bool)
        self.weighing = bool(self.weighs.any())
        self.range_lo, self.range_hi = self._ranges(registry)
        self.has_ranges = bool(registry.ranges)
        self.flow_threshold = np.array([self._flow_threshold_of(policy, d) for d in self.layout.device_ids])
        self.silence_s = np.array([self._silence_of(policy, d) for d in self.layout.device_ids], dtype=np.float64)

    def columns(self, codes: tuple[str, ...]) -> IntArray:
        """The column of each code of a batch's code table, and -1 (unknown) appended."""
        found = self._code_cache.get(codes)
        if found is None:
            found = np.array([self.col_of.get(c, -1) for c in codes] + [-1], dtype=np.int64)
            self._code_cache[codes] = found
        return found

    def series_of(self, key: AlertKey) -> int:
        """The series of a key's device and pollutant, or -1."""
        slot, col = self.slot_of.get(key.device_id, -1), self.col_of.get(key.pollutant, -1)
        return slot * self.n_codes + col if slot >= 0 and col >= 0 else -1

    def _ranges(self, registry: EngineRegistry) -> tuple[FloatArray, FloatArray]:
        """Measuring range per series (NaN where the registry gives none)."""
        n_series = self.layout.n_series
        lo, hi = np.full(n_series, np.nan), np.full(n_series, np.nan)
        for (device_id, code), (lower, upper) in registry.ranges.items():
            series = self.layout.series(device_id, code)
            if series >= 0:
                lo[series] = np.nan if lower is None else lower
                hi[series] = np.nan if upper is None else upper
        return lo, hi

    def _flow_threshold_of(self, policy: Policy, device_id: int) -> float:
        kind = self.registry.devices[device_id].kind
        zf = policy.zero_flow
        return {"water_analyser": zf.water_flow_l_s, "cems": zf.gas_flow_m3_s}.get(kind, np.inf)

    def _silence_of(self, policy: Policy, device_id: int) -> float:
        sp = policy.silent
        return max(sp.intervals * self.registry.devices[device_id].reporting_interval_seconds, sp.min_seconds)


class ActiveMasks:
    """Per rule, the series (or devices) whose key is pending or firing."""

    def __init__(self, frame: EngineFrame) -> None:
        self._frame = frame
        n_dev = len(frame.layout.device_ids)
        self.series = np.zeros((len(SERIES_RULES), frame.layout.n_series), dtype=bool)
        self.silent = np.zeros(n_dev, dtype=bool)
        self.device = {rule: np.zeros(n_dev, dtype=bool) for rule in DEVICE_FLAG_RULES}

    def mark(self, key: AlertKey, active: bool) -> None:
        """Note that a key became pending (True) or inactive (False)."""
        if key.rule == "silent" or key.rule in DEVICE_FLAG_RULES:
            slot = self._frame.slot_of.get(key.device_id, -1)
            target = self.silent if key.rule == "silent" else self.device.get(key.rule)
            if slot >= 0 and target is not None:
                target[slot] = active
            return
        series = self._frame.series_of(key)
        if key.rule in RULE_ROW and series >= 0:
            self.series[RULE_ROW[key.rule], series] = active

    def reset(self) -> None:
        """Every key inactive."""
        self.series[:] = False
        self.silent[:] = False
        for active in self.device.values():
            active[:] = False
