"""Bulk generation for load mode and the benchmark (one message per device per round), and for the demo's
history (a device's samples over a period at once), vectorised.

Values come from the same signal as normal mode (`signal.base_values` over every channel of every
device at once, or over one device's channels at many times); each message or sample is rendered with one
`%` on a format string made once per device.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from device_sim.limits import ChannelLimit
from device_sim.noise import F64
from device_sim.plans import DevicePlan, build_channels
from device_sim.samples import DECIMALS
from device_sim.signal import Channels, base_values
from envmon import topics
from envmon.catalogue import load_catalogue
from envmon.protocols.hj212.times import CST
from envmon.protocols.mqtt_wire import publish_header
from envmon.registry.load import load_presets

# The ingest benchmark's ten pollutants (benchmarks/ingest.py CODES): an electroplating outfall.
LOAD_CODES = ("w20117", "w20116", "w20121", "w20122", "w20123", "w20115", "w01001", "w01018", "w00000", "w21003")
LOAD_PRESET = "GB21900-2008-T3"


# HJ 212 and the MQTT payloads carry China Standard Time (+08:00), as the per-sample path does.
_CST_OFFSET_MS = 8 * 3600 * 1000


def _concat(parts: list[Channels]) -> Channels:
    """One Channels holding every device's channels, device after device."""
    names = Channels.__dataclass_fields__.keys()
    return Channels(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in names})


def preset_limits(preset_id: str, codes: Sequence[str]) -> dict[str, ChannelLimit]:
    """The limits of a shipped preset for these codes (baselines sit below them)."""
    preset = load_presets()[preset_id]
    rows = {r.pollutant: r for r in preset.limits}
    return {c: ChannelLimit(rows[c].direction, rows[c].lower, rows[c].upper) for c in codes if c in rows}


class LoadBlock:
    """Payloads for `n` synthetic devices that measure the same pollutants."""

    def __init__(self, mns: Sequence[str], codes: Sequence[str] = LOAD_CODES, seed: int = 0,
                 industry: str = "electroplating") -> None:
        limits = preset_limits(LOAD_PRESET, codes)
        self.mns = list(mns)
        self.codes = tuple(codes)
        self.channels = _concat([build_channels(seed, mn, industry, codes, limits) for mn in mns])
        catalogue = load_catalogue()
        factors = np.array([catalogue.get(c).protocol_factor for c in codes])
        self._factor: F64 = np.tile(factors, len(self.mns))
        values = ",".join(f'"{c}":%.6g' for c in codes)
        self._formats = [f'{{"device":"{mn}","seq":%d,"time":"%s","values":{{{values}}}}}' for mn in mns]
        self.topics = [publish_header(topics.device_topic(mn, topics.UP)) for mn in mns]
        self.rounds = 0

    @property
    def readings_per_message(self) -> int:
        """Values in each message."""
        return len(self.codes)

    def round(self, t_s: float) -> list[bytes]:
        """One message per device, all sampled at `t_s`; the round number is every message's seq."""
        protocol = (base_values(self.channels, t_s) / self._factor).reshape(len(self.mns), len(self.codes))
        stamp = datetime.fromtimestamp(t_s, CST).isoformat(timespec="milliseconds")
        self.rounds += 1
        seq = self.rounds
        return [(fmt % (seq, stamp, *row)).encode() for fmt, row in zip(self._formats, protocol.tolist(), strict=True)]


def history_parts(plan: DevicePlan, times_s: F64, first_seq: int) -> list[bytes]:
    """The sample objects (JSON without the device, for `samples` messages) of a device without incidents at
    `times_s`, seq counting from `first_seq`: what the per-sample path (payloads.sample_body of samples.to_sample)
    sends, made in one pass over all the times."""
    if plan.channels.keys.shape[0] == 0 or times_s.shape[0] == 0:
        return []
    k = len(plan.codes)
    tiled = _concat([plan.channels] * times_s.shape[0])
    base = base_values(tiled, np.repeat(times_s, k)).reshape(times_s.shape[0], k)
    protocol = np.round(base / plan.protocol_factor, DECIMALS)
    millis = np.round(times_s * 1000.0).astype(np.int64) + _CST_OFFSET_MS
    stamps = np.datetime_as_string(millis.astype("datetime64[ms]"), unit="ms").tolist()
    # %r is float.__repr__, which json.dumps uses too: the same digits as the per-sample path.
    values = ",".join(f'"{code}":%r' for code in plan.codes)
    fmt = '{"seq":%d,"time":"%s+08:00","values":{' + values + "}}"
    return [(fmt % (first_seq + i, stamp, *row)).encode()
            for i, (stamp, row) in enumerate(zip(stamps, protocol.tolist(), strict=True))]
