"""The limit that applies to each device and pollutant, resolved from a registry (pure).

Precedence as in the registry store: an explicit device limit, then an explicit site limit, then
the site's presets in order. The simulator needs only the thresholds to place baselines below them
and to script incidents relative to them (`peak_ratio = 2.5` means 2.5x the limit).
"""

from __future__ import annotations

from dataclasses import dataclass

from device_sim.profiles import profile_of
from envmon.catalogue import load_catalogue
from envmon.registry.load import Registry
from envmon.registry.model import Device, Thresholds
from envmon.registry.store import applies_at, limit_point_kinds

O2_CODE = "a19001"
AIR_O2_PERCENT = 21.0


@dataclass(frozen=True, slots=True)
class ChannelLimit:
    """Thresholds in the canonical unit; `level2_upper` only for gas alarms."""

    direction: str
    lower: float | None
    upper: float | None
    level2_upper: float | None = None

    @property
    def reference(self) -> float | None:
        """The value incidents scale from: the upper limit (None for lower-only limits)."""
        return self.upper


def _limit_of(values: Thresholds) -> ChannelLimit:
    return ChannelLimit(values.direction, values.lower, values.upper, values.level2_upper)


def device_limits(registry: Registry, device: Device) -> dict[str, ChannelLimit]:
    """The effective limit of each of the device's pollutants that has one."""
    found: dict[str, ChannelLimit] = {}
    site = next(s for s in registry.file.sites if s.code == device.site)
    for preset_id in site.limit_presets:  # a later preset overrides an earlier one, as in the store
        for row in registry.presets[preset_id].limits:
            if applies_at(row.point_kinds, device.point_kind):
                found[row.pollutant] = _limit_of(row)
    for scope_is_device in (False, True):
        for lim in registry.file.limits:
            matches = lim.device == device.mn if scope_is_device else (lim.site == device.site and not lim.device)
            chosen = registry.presets[lim.preset].row(lim.pollutant) if lim.preset else None
            if matches and (scope_is_device or applies_at(limit_point_kinds(lim, chosen), device.point_kind)):
                found[lim.pollutant] = _limit_of(chosen if chosen is not None else lim)
    found.update(_measured_equivalents(found, device))
    return {code: found[code] for code in device.pollutants if code in found}


def _measured_equivalents(found: dict[str, ChannelLimit], device: Device) -> dict[str, ChannelLimit]:
    """For measured flue-gas channels limited only through their corrected series (a21026 via
    a21026z), the limit as a measured value at the simulated O2, so baselines and incidents scale
    from the limit that is judged."""
    if device.o2_reference_percent is None:
        return {}
    scale = (AIR_O2_PERCENT - profile_of(O2_CODE).typical) / (AIR_O2_PERCENT - device.o2_reference_percent)
    equivalents: dict[str, ChannelLimit] = {}
    for measured, corrected in load_catalogue().corrected.items():
        limit = found.get(corrected)
        if measured in found or limit is None:
            continue
        equivalents[measured] = ChannelLimit(
            limit.direction,
            None if limit.lower is None else limit.lower * scale,
            None if limit.upper is None else limit.upper * scale,
        )
    return equivalents
