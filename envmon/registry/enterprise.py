"""Checks of the enterprise file sections of a registry file (issue 19).

Permits, EIA records and enforcement records name their site by code; a permit outlet names the
devices standing at it, which must belong to that site. Storage: envmon/registry/enterprise_store.py.
"""

from __future__ import annotations

from typing import Any

from envmon.catalogue import Catalogue
from envmon.registry.model import Permit, RegistryFile


def check_enterprise_file(reg: RegistryFile, catalogue: Catalogue) -> list[str]:
    """Every site, device and pollutant the file sections name exists; keys are unique."""
    sites = {s.code for s in reg.sites}
    device_site = {d.mn: d.site for d in reg.devices}
    problems: list[str] = []
    for i, p in enumerate(reg.permits):
        problems += _check_permit(f"permits[{i}] ({p.number})", p, sites, device_site, catalogue)
    problems += [f"eia_records[{i}].site: unknown site {r.site!r}"
                 for i, r in enumerate(reg.eia_records) if r.site not in sites]
    problems += [f"enforcement_records[{i}].site: unknown site {r.site!r}"
                 for i, r in enumerate(reg.enforcement_records) if r.site not in sites]
    problems += _repeated("permits", [(p.site, p.number) for p in reg.permits])
    problems += _repeated("enforcement_records", [(r.site, r.case_number) for r in reg.enforcement_records])
    problems += _repeated("eia_records", [(r.site, r.kind, r.number) for r in reg.eia_records])
    return problems


def _check_permit(at: str, p: Permit, sites: set[str], device_site: dict[str, str], catalogue: Catalogue) -> list[str]:
    problems = [f"{at}.site: unknown site {p.site!r}"] if p.site not in sites else []
    problems += _repeated(f"{at}.outlets", [(o.code,) for o in p.outlets])
    for j, outlet in enumerate(p.outlets):
        here = f"{at}.outlets[{j}] ({outlet.code})"
        problems += [f"{here}.devices: {mn!r} is not a device of {p.site}"
                     for mn in outlet.devices if device_site.get(mn) != p.site]
        problems += [f"{here}.limits[{k}]: unknown pollutant {lim.pollutant!r}"
                     for k, lim in enumerate(outlet.limits) if lim.pollutant not in catalogue]
        problems += _repeated(f"{here}.limits", [(lim.pollutant, lim.basis) for lim in outlet.limits])
    return problems


def _repeated(name: str, keys: list[tuple[Any, ...]]) -> list[str]:
    seen: set[tuple[Any, ...]] = set()
    twice = {k for k in keys if k in seen or seen.add(k)}  # type: ignore[func-returns-value]
    return [f"{name}: {' '.join(map(str, k))} appears more than once" for k in sorted(twice)]
