"""Parse registry files and limit presets strictly, and check every cross-reference.

`parse_registry(text, source)` returns a `Registry` (the file plus the presets it uses) or
raises RegistryError listing every problem with where it is: `sites[3] (FX-EP-004).industry: ...`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from envmon.catalogue import Catalogue, convertible_units, load_catalogue, unit_factor
from envmon.errors import CatalogueError, RegistryError
from envmon.registry.enterprise import check_enterprise_file
from envmon.registry.model import DEVICE_POLLUTANT_KIND, Device, Preset, PresetFile, RegistryFile
from envmon.strict_toml import read_text_file, read_toml, validation_problems

# The key that names an item of each list in messages.
_ITEM_KEYS = {
    "districts": "code",
    "sites": "code",
    "devices": "mn",
    "recipients": "code",
    "escalation_chains": "code",
    "presets": "id",
    "limits": "pollutant",
}

# Names of items in messages are cut to this.
_LABEL_CHARS = 40


@dataclass(frozen=True)
class Registry:
    """A validated registry file with the presets available to it."""

    file: RegistryFile
    presets: dict[str, Preset]
    source: str


def _where(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Render a pydantic error location with the code of the item it is in."""
    parts: list[str] = []
    node: Any = data
    for i, key in enumerate(loc):
        if isinstance(key, int):
            parts[-1] += f"[{key}]"
            item = node[key] if isinstance(node, list) and key < len(node) else None
            name_key = _ITEM_KEYS.get(str(loc[i - 1])) if i else None
            if isinstance(item, dict) and name_key and name_key in item:
                parts[-1] += f" ({_label(item[name_key])})"
            node = item
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts) or "(file)"


def _label(name: Any) -> str:
    """An item's name as messages show it: the bad name itself may be 5 MB long or hold control characters."""
    text = name if isinstance(name, str) else repr(name)
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:_LABEL_CHARS])
    return shown if len(text) <= _LABEL_CHARS else shown + "…"


def parse_presets(text: str, source: str = "limit_presets.toml") -> dict[str, Preset]:
    """Parse a presets file strictly; pollutant codes must be in the catalogue."""
    data = read_toml(text, source, RegistryError)
    try:
        parsed = PresetFile.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(source, validation_problems(exc, data, _where)) from exc
    catalogue = load_catalogue()
    problems = [
        f"presets[{i}] ({p.id}).limits[{j}]: unknown pollutant {row.pollutant!r}"
        for i, p in enumerate(parsed.presets)
        for j, row in enumerate(p.limits)
        if row.pollutant not in catalogue
    ]
    problems += [f"presets: id {d!r} appears more than once" for d in _duplicates(p.id for p in parsed.presets)]
    problems += [
        f"presets[{i}] ({p.id}).o2_reference_percent: needed for the corrected rows {', '.join(codes)}"
        for i, p in enumerate(parsed.presets)
        if p.o2_reference_percent is None and (codes := _corrected_rows(p, catalogue))
    ]
    if problems:
        raise RegistryError(source, problems)
    return {p.id: p for p in parsed.presets}


def _corrected_rows(preset: Preset, catalogue: Catalogue) -> list[str]:
    """The codes of a preset's rows that limit an oxygen-corrected series."""
    codes = [r.pollutant for r in preset.limits if r.pollutant in catalogue]
    return [c for c in codes if catalogue.get(c).corrected_from is not None]


@cache
def load_presets() -> dict[str, Preset]:
    """The presets shipped in the package."""
    text = resources.files("envmon.data").joinpath("limit_presets.toml").read_text(encoding="utf-8")
    return parse_presets(text)


def parse_registry(text: str, source: str = "<registry>", presets: dict[str, Preset] | None = None) -> Registry:
    """Parse and check a registry file; RegistryError lists every problem found."""
    data = read_toml(text, source, RegistryError)
    try:
        parsed = RegistryFile.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(source, validation_problems(exc, data, _where)) from exc
    presets = load_presets() if presets is None else presets
    problems = check_references(parsed, presets, load_catalogue())
    if problems:
        raise RegistryError(source, problems)
    return Registry(parsed, presets, source)


def load_registry_file(path: Path) -> Registry:
    """Read and check a registry file from disk."""
    return parse_registry(read_text_file(path, RegistryError), str(path))


def _duplicates(values: Iterable[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def check_references(reg: RegistryFile, presets: dict[str, Preset], catalogue: Catalogue) -> list[str]:
    """Every reference resolves inside the file, every code is unique, units of kinds agree."""
    problems: list[str] = []
    for name, values in (
        ("districts.code", [d.code for d in reg.districts]),
        ("sites.code", [s.code for s in reg.sites]),
        ("devices.mn", [d.mn for d in reg.devices]),
        ("recipients.code", [r.code for r in reg.recipients]),
        ("recipients.phone", [r.phone for r in reg.recipients]),
        ("escalation_chains.code", [c.code for c in reg.escalation_chains]),
    ):
        problems += [f"{name}: {v!r} appears more than once" for v in _duplicates(values)]
    districts = {d.code for d in reg.districts}
    sites = {s.code for s in reg.sites}
    devices = {d.mn: d for d in reg.devices}
    recipients = {r.code for r in reg.recipients}
    for i, s in enumerate(reg.sites):
        at = f"sites[{i}] ({s.code})"
        if s.district not in districts:
            problems.append(f"{at}.district: unknown district {s.district!r}")
        problems += [f"{at}.limit_presets: unknown preset {p!r}" for p in s.limit_presets if p not in presets]
    for i, d in enumerate(reg.devices):
        at = f"devices[{i}] ({d.mn})"
        if d.site not in sites:
            problems.append(f"{at}.site: unknown site {d.site!r}")
        for code in d.pollutants:
            if code not in catalogue:
                problems.append(f"{at}.pollutants: unknown pollutant {code!r}")
            elif catalogue.get(code).kind != DEVICE_POLLUTANT_KIND[d.kind]:
                problems.append(
                    f"{at}.pollutants: {code} is a {catalogue.get(code).kind} parameter, not measured by a {d.kind}"
                )
    problems += _check_limits(reg, presets, catalogue, sites, devices)
    problems += check_device_units(reg, catalogue)
    problems += check_o2_references(reg, presets, catalogue)
    problems += check_enterprise_file(reg, catalogue)
    for i, c in enumerate(reg.escalation_chains):
        at = f"escalation_chains[{i}] ({c.code})"
        problems += [f"{at}.districts: unknown district {x!r}" for x in c.districts if x not in districts]
        problems += [f"{at}.sites: unknown site {x!r}" for x in c.sites if x not in sites]
        problems += [
            f"{at}.steps[{j}].recipients: unknown recipient {r!r}"
            for j, step in enumerate(c.steps)
            for r in step.recipients
            if r not in recipients
        ]
    return problems


def _check_limits(
    reg: RegistryFile, presets: dict[str, Preset], catalogue: Catalogue, sites: set[str], devices: dict[str, Any]
) -> list[str]:
    problems: list[str] = []
    for i, lim in enumerate(reg.limits):
        at = f"limits[{i}] ({lim.pollutant})"
        if lim.pollutant not in catalogue:
            problems.append(f"{at}.pollutant: unknown pollutant {lim.pollutant!r}")
        if lim.site and lim.site not in sites:
            problems.append(f"{at}.site: unknown site {lim.site!r}")
        if lim.device and lim.device not in devices:
            problems.append(f"{at}.device: unknown device {lim.device!r}")
        if lim.preset is not None:
            preset = presets.get(lim.preset)
            if preset is None:
                problems.append(f"{at}.preset: unknown preset {lim.preset!r}")
            elif preset.row(lim.pollutant) is None:
                problems.append(f"{at}.preset: preset {lim.preset!r} has no limit for {lim.pollutant}")
    return problems


def check_device_units(reg: RegistryFile, catalogue: Catalogue) -> list[str]:
    """Every per-channel unit converts to its pollutant's canonical unit (mg/L for Cr(VI) sent in mg/L)."""
    problems: list[str] = []
    for i, d in enumerate(reg.devices):
        for code, unit in d.units.items():
            if code not in catalogue:
                continue  # reported as an unknown pollutant already
            canonical = catalogue.get(code).canonical_unit
            try:
                unit_factor(unit, canonical)
            except CatalogueError:
                problems.append(
                    f"devices[{i}] ({d.mn}).units.{code}: unit {unit!r} cannot be converted to {canonical} "
                    f"(known units of {code}: {', '.join(convertible_units(canonical))})"
                )
    return problems


def check_o2_references(reg: RegistryFile, presets: dict[str, Preset], catalogue: Catalogue) -> list[str]:
    """A device with corrected channels names its reference O2, and it is the one its limits assume."""
    problems: list[str] = []
    sites = {s.code: s for s in reg.sites}
    for i, d in enumerate(reg.devices):
        at = f"devices[{i}] ({d.mn})"
        corrected = [c for c in d.pollutants if c in catalogue and catalogue.get(c).corrected_from is not None]
        if not corrected:
            continue
        if d.o2_reference_percent is None:
            problems.append(f"{at}.o2_reference_percent: needed for the corrected channels {', '.join(corrected)}")
            continue
        site = sites.get(d.site)
        for preset_id in site.limit_presets if site else []:
            preset = presets.get(preset_id)
            if preset is not None and _disagrees(preset, d, corrected):
                problems.append(
                    f"{at}.o2_reference_percent: {d.o2_reference_percent} %, but the site's preset {preset_id} "
                    f"judges corrected values at {preset.o2_reference_percent} % (give this device its own limits)"
                )
    return problems


def _disagrees(preset: Preset, device: Device, corrected: list[str]) -> bool:
    """Whether a preset limits one of these corrected codes at another reference O2 than the device's."""
    ref = preset.o2_reference_percent
    return ref is not None and ref != device.o2_reference_percent and any(preset.row(c) for c in corrected)
