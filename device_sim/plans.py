"""Device plans: everything needed to generate one device's readings, built from a registry entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from device_sim.limits import ChannelLimit, device_limits
from device_sim.noise import F64, channel_key, fraction
from device_sim.profiles import DEFAULT_INTERVAL_SECONDS, FLOW_BY_INDUSTRY, Profile, profile_of
from device_sim.signal import CYCLES, SHAPES, Channels
from envmon.catalogue import load_catalogue
from envmon.registry.load import Registry
from envmon.registry.model import Device


@dataclass(frozen=True)
class DevicePlan:
    """One simulated device: identity, transport, channels (in `codes` order) and their limits."""

    mn: str
    kind: str
    industry: str
    transport: str
    system_code: str
    interval_seconds: float
    codes: tuple[str, ...]
    channels: Channels
    protocol_factor: F64  # canonical = protocol x factor
    limits: dict[str, ChannelLimit] = field(default_factory=dict)
    hj212_password: str | None = None

    @property
    def phase_s(self) -> float:
        """Where in its interval this device samples (whole seconds): devices do not all report at once."""
        return float(int(fraction(int(self.channels.keys[0]), 9) * self.interval_seconds))

    def index(self, code: str) -> int:
        """The position of a pollutant in this device's channels."""
        return self.codes.index(code)


def _baseline(profile: Profile, code: str, limit: ChannelLimit | None, industry: str, key: int) -> float:
    """A channel's baseline: a per-device fraction of its upper limit, or the profile's typical value."""
    if profile.shape == "flow" and code == "w00000":
        return FLOW_BY_INDUSTRY.get(industry, profile.typical) * (0.7 + 0.6 * fraction(key, 1))
    if profile.shape == "concentration" and limit is not None and limit.upper is not None:
        low, high = profile.baseline_ratio
        return limit.upper * (low + (high - low) * fraction(key, 2))
    spread = 0.0 if profile.shape == "level" else 0.3
    return profile.typical * (1.0 - spread / 2 + spread * fraction(key, 3))


def build_channels(
    seed: int, mn: str, industry: str, codes: Sequence[str], limits: dict[str, ChannelLimit]
) -> Channels:
    """The channel parameters of one device."""
    keys = [channel_key(seed, mn, c) for c in codes]
    profiles = [profile_of(c) for c in codes]
    night, start, end = CYCLES.get(industry, CYCLES["other"])
    k = len(codes)
    return Channels(
        keys=np.array(keys, dtype=np.uint64),
        shape=np.array([SHAPES.index(p.shape) for p in profiles], dtype=np.int8),
        baseline=np.array(
            [_baseline(p, c, limits.get(c), industry, key) for p, c, key in zip(profiles, codes, keys, strict=True)]
        ),
        noise=np.array([p.noise for p in profiles]),
        load_weight=np.array([p.load_weight for p in profiles]),
        night_load=np.full(k, night),
        shift_start_h=np.full(k, start),
        shift_end_h=np.full(k, end),
        phase1=np.array([2 * np.pi * fraction(key, 4) for key in keys]),
        phase2=np.array([2 * np.pi * fraction(key, 5) for key in keys]),
    )


def device_plan(registry: Registry, device: Device, seed: int) -> DevicePlan:
    """The plan of one registered device."""
    limits = device_limits(registry, device)
    industry = next(s.industry for s in registry.file.sites if s.code == device.site)
    codes = sent_codes(device)
    return DevicePlan(
        mn=device.mn,
        kind=device.kind,
        industry=industry,
        transport=device.transport,
        system_code=device.system_code,
        interval_seconds=float(device.reporting_interval_seconds or DEFAULT_INTERVAL_SECONDS[device.kind]),
        codes=codes,
        channels=build_channels(seed, device.mn, industry, codes, limits),
        protocol_factor=np.array([load_catalogue().get(c).protocol_factor for c in codes]),
        limits=limits,
        hj212_password=device.hj212_password,
    )


def sent_codes(device: Device) -> tuple[str, ...]:
    """The channels a simulated device sends: corrected flue-gas series (a21026z) are derived by ingest."""
    catalogue = load_catalogue()
    return tuple(c for c in device.pollutants if catalogue.get(c).corrected_from is None)


def build_plans(registry: Registry, seed: int, devices: Sequence[str] | None = None) -> list[DevicePlan]:
    """A plan for every device of the registry (or only the MN codes in `devices`)."""
    wanted = None if devices is None else set(devices)
    return [device_plan(registry, d, seed) for d in registry.file.devices if wanted is None or d.mn in wanted]
