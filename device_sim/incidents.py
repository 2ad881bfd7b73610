"""Incidents applied to a device's undisturbed values at one sample time (pure).

`disturb(plan, incidents, start_s, t_s, base)` returns what the device reports at `t_s`: canonical
values, a flag per value, and whether the sample is sent (offline and dropped samples are not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from device_sim.noise import F64, normals
from device_sim.plans import DevicePlan
from device_sim.scenario import Incident
from device_sim.signal import base_values

# How far above the level 1 set point a leak first settles, and above level 2 once it escalates.
LEAK_LEVEL1_FACTOR = 1.2
LEAK_LEVEL2_FACTOR = 1.3
DEFAULT_SPIKE_RATIO = 2.0
DEFAULT_RAMP_RATIO = 1.5
_FLAG_OF_KIND = {"over_range": "T", "calibration": "C", "maintenance": "M"}
# Kinds that act on the whole message rather than on values.
_NOT_ON_VALUES = frozenset({"offline", "drop", "malformed"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the device does at one sample time."""

    values: F64
    flags: tuple[str, ...]
    send: bool = True
    keep_for_resend: bool = True
    offline: bool = False


def _jitter(plan: DevicePlan, j: int, t_s: float, relative_sd: float) -> float:
    """A small deterministic relative wobble so that scripted values are not flat lines."""
    n = normals(plan.channels.keys[j : j + 1] ^ np.uint64(0xA5A5), np.array([round(t_s * 1000)], dtype=np.int64))
    return 1.0 + relative_sd * float(n[0])


def _peak(plan: DevicePlan, inc: Incident, default_ratio: float) -> float:
    """The incident's target value: peak_value, or peak_ratio (or the default) times the upper limit."""
    if inc.peak_value is not None:
        return inc.peak_value
    limit = plan.limits.get(inc.pollutant or "")
    upper = limit.upper if limit is not None and limit.upper is not None else 0.0
    return upper * (inc.peak_ratio or default_ratio)


def _gas_leak(plan: DevicePlan, inc: Incident, elapsed: float, base: float) -> float:
    """Level 1 first (rising over 20 s), then level 2 after `level1_seconds`."""
    limit = plan.limits[inc.pollutant or ""]
    level1, level2 = limit.upper or 0.0, limit.level2_upper or 0.0
    first = min(level1 * LEAK_LEVEL1_FACTOR, (level1 + level2) / 2)
    hold = inc.level1_seconds or inc.duration_seconds / 2
    if elapsed < hold:
        return base + (first - base) * min(1.0, elapsed / 20.0)
    return first + (level2 * LEAK_LEVEL2_FACTOR - first) * min(1.0, (elapsed - hold) / 20.0)


def _upper_or(plan: DevicePlan, code: str, fallback: float) -> float:
    limit = plan.limits.get(code)
    return limit.upper if limit is not None and limit.upper else fallback


def _spike(plan: DevicePlan, inc: Incident, elapsed: float, base: float, t_s: float) -> float:
    return _peak(plan, inc, DEFAULT_SPIKE_RATIO) * _jitter(plan, plan.index(inc.pollutant or ""), t_s, 0.02)


def _ramp(plan: DevicePlan, inc: Incident, elapsed: float, base: float, t_s: float) -> float:
    rise = inc.rise_seconds or 0.7 * inc.duration_seconds
    peak = _peak(plan, inc, DEFAULT_RAMP_RATIO)
    return (base + (peak - base) * min(1.0, elapsed / rise)) * _jitter(plan, plan.index(inc.pollutant or ""), t_s, 0.01)


def _leak(plan: DevicePlan, inc: Incident, elapsed: float, base: float, t_s: float) -> float:
    return _gas_leak(plan, inc, elapsed, base) * _jitter(plan, plan.index(inc.pollutant or ""), t_s, 0.02)


def _stuck(plan: DevicePlan, inc: Incident, elapsed: float, base: float, t_s: float) -> float:
    # The value the channel had when it stuck: the signal at the incident's start.
    return float(base_values(plan.channels, t_s - elapsed)[plan.index(inc.pollutant or "")])


def _negative(plan: DevicePlan, inc: Incident, elapsed: float, base: float, t_s: float) -> float:
    if inc.value is not None:
        return -abs(inc.value)
    return -0.3 * float(plan.channels.baseline[plan.index(inc.pollutant or "")])


def _flapping(plan: DevicePlan, inc: Incident, elapsed: float, base: float, t_s: float) -> float:
    above = int(elapsed // inc.interval_seconds) % 2 == 0
    return _peak(plan, inc, 1.0) * (1.0 + inc.amplitude_ratio * (1 if above else -1))


def _over_range(plan: DevicePlan, inc: Incident, elapsed: float, base: float, t_s: float) -> float:
    if inc.value is not None:
        return inc.value
    code = inc.pollutant or ""
    return _upper_or(plan, code, float(plan.channels.baseline[plan.index(code)]) * 2) * 5


def _given_or_base(plan: DevicePlan, inc: Incident, elapsed: float, base: float, t_s: float) -> float:
    return inc.value if inc.value is not None else base


_VALUE_OF_KIND: dict[str, Callable[[DevicePlan, Incident, float, float, float], float]] = {
    "spike": _spike,
    "ramp": _ramp,
    "gas_leak": _leak,
    "stuck": _stuck,
    "zero": lambda *_: 0.0,
    "negative": _negative,
    "flapping": _flapping,
    "over_range": _over_range,
}


def incident_value(plan: DevicePlan, inc: Incident, start_s: float, t_s: float, base: float) -> float:
    """The value an incident puts on its pollutant at `t_s` (canonical unit)."""
    elapsed = t_s - start_s - inc.at_seconds
    return _VALUE_OF_KIND.get(inc.kind, _given_or_base)(plan, inc, elapsed, base, t_s)


def _targets(plan: DevicePlan, inc: Incident) -> range | list[int]:
    """The channel indexes an incident touches: its pollutant, or all of them."""
    return [plan.index(inc.pollutant)] if inc.pollutant is not None else range(len(plan.codes))


def _device_wide(incidents: tuple[Incident, ...], offset: float) -> tuple[bool, bool, bool]:
    """(send, keep for resend, offline) from the outages and losses under way."""
    send, keep, offline = True, True, False
    for inc in incidents:
        if inc.kind == "offline" and inc.covers(offset):
            send, keep, offline = False, inc.store_and_forward, True
        elif inc.kind == "drop" and inc.covers(offset):
            send, keep = False, inc.answer_resend
    return send, keep, offline


def disturb(plan: DevicePlan, incidents: tuple[Incident, ...], start_s: float, t_s: float, base: F64) -> Outcome:
    """The device's report at `t_s` given the incidents under way (later incidents win)."""
    offset = t_s - start_s
    values = base.copy()
    flags = ["N"] * len(plan.codes)
    for inc in incidents:
        if not inc.covers(offset) or inc.kind in _NOT_ON_VALUES:
            continue
        flag = inc.flag or _FLAG_OF_KIND.get(inc.kind, "N")
        for j in _targets(plan, inc):
            if inc.pollutant is not None:
                values[j] = incident_value(plan, inc, start_s, t_s, float(base[j]))
            flags[j] = flag
    return Outcome(values, tuple(flags), *_device_wide(incidents, offset))


def interval_at(plan: DevicePlan, incidents: tuple[Incident, ...], offset_s: float) -> float:
    """The reporting interval at an offset: 1 Hz (or as given) while a flapping incident runs."""
    faster = [i.interval_seconds for i in incidents if i.kind == "flapping" and i.covers(offset_s)]
    return min([plan.interval_seconds, *faster])


def next_sample_offset(plan: DevicePlan, incidents: tuple[Incident, ...], offset_s: float) -> float:
    """The offset of the device's next sample after one at `offset_s`."""
    candidate = offset_s + interval_at(plan, incidents, offset_s)
    starts = [i.at_seconds for i in incidents if i.kind == "flapping" and offset_s < i.at_seconds < candidate]
    return min([candidate, *starts])
