"""The undisturbed signal of each channel: baseline x daily production cycle x slow drift + noise.

Vectorised over channels (one device, or thousands in load mode) and a pure function of the
sample time: `base_values(channels, t_s)` gives canonical values for epoch second `t_s`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from device_sim.noise import F64, U64, normals

SHAPES = ("concentration", "flow", "level", "inverse", "gas")
# Production cycles: (load at night, shift start hour, shift end hour), China Standard Time.
CYCLES: dict[str, tuple[float, float, float]] = {
    "electroplating": (0.3, 7.5, 18.0),
    "lead_acid_battery": (0.5, 6.0, 22.0),
    "chemical": (0.8, 8.0, 20.0),
    "pharmaceutical": (0.6, 8.0, 20.0),
    "printing_dyeing": (0.4, 7.0, 19.0),
    "smelting": (0.85, 8.0, 20.0),
    "other": (0.5, 8.0, 18.0),
}
CST_OFFSET_SECONDS = 8 * 3600
# Drift: two slow waves with incommensurate periods, so no two days look alike.
DRIFT_PERIODS_SECONDS = (37 * 3600.0, 5.3 * 3600.0)
DRIFT_AMPLITUDES = (0.06, 0.04)


@dataclass(frozen=True)
class Channels:
    """Flat per-channel parameters (canonical units); index i is one (device, pollutant)."""

    keys: U64
    shape: npt.NDArray[np.int8]
    baseline: F64
    noise: F64
    load_weight: F64
    night_load: F64
    shift_start_h: F64
    shift_end_h: F64
    phase1: F64
    phase2: F64

    def __len__(self) -> int:
        return int(self.keys.shape[0])


def production_load(t_s: float | F64, night: F64, start_h: F64, end_h: F64) -> F64:
    """The plant's load in (night, 1]: a smooth day shift in local (China Standard) time."""
    hour = ((t_s + CST_OFFSET_SECONDS) % 86400.0) / 3600.0
    rise = 1.0 / (1.0 + np.exp(-2.0 * (hour - start_h)))
    fall = 1.0 / (1.0 + np.exp(-2.0 * (end_h - hour)))
    result: F64 = night + (1.0 - night) * rise * fall
    return result


def drift(t_s: float | F64, phase1: F64, phase2: F64) -> F64:
    """A slow relative drift of a few percent."""
    (p1, p2), (a1, a2) = DRIFT_PERIODS_SECONDS, DRIFT_AMPLITUDES
    result: F64 = a1 * np.sin(2 * np.pi * t_s / p1 + phase1) + a2 * np.sin(2 * np.pi * t_s / p2 + phase2)
    return result


def base_values(ch: Channels, t_s: float | F64) -> F64:
    """Canonical values of every channel at epoch second `t_s`, before any incident.

    `t_s` may also be an array of one time per channel (a block of samples of tiled channels, for bulk history).
    """
    load = production_load(t_s, ch.night_load, ch.shift_start_h, ch.shift_end_h)
    d = drift(t_s, ch.phase1, ch.phase2)
    n = normals(ch.keys, np.broadcast_to(np.round(np.asarray(t_s) * 1000).astype(np.int64), (len(ch),)))
    follow = 1.0 - ch.load_weight + ch.load_weight * load
    scaled = ch.baseline * follow * (1.0 + d) * (1.0 + ch.noise * n)
    level = ch.baseline + 3.0 * ch.noise * d / 0.1 + ch.noise * n
    inverse = ch.baseline * (1.0 + ch.load_weight * (0.7 - load)) * (1.0 + d) + ch.noise * ch.baseline * n
    gas = ch.baseline * (1.0 + 0.3 * load) * (1.0 + d) + ch.noise * n
    out = np.select(
        [ch.shape == 0, ch.shape == 1, ch.shape == 2, ch.shape == 3],
        [scaled, scaled, level, inverse],
        default=gas,
    )
    clamp_at_zero = ch.shape != 2
    result: F64 = np.where(clamp_at_zero, np.maximum(out, 0.0), out)
    return result
