"""Which limit is in force for a device and pollutant at a time: one SQL rule for the dashboard and the reports.

Device scope beats site scope beats default; a site or default limit restricted to point kinds applies only at
devices standing at one of them (limit_presets.toml: first-class pollutants are judged at the workshop outlet);
then the preferred bases in their order; then the newest valid_from.
"""

from __future__ import annotations

from collections.abc import Sequence

from envmon.domain import LIMIT_BASES, LimitBasis


def limit_in_force(
    bases: Sequence[LimitBasis], *, pollutant: str = "dp.code", at: str = "%(now)s", condition: str = "true"
) -> str:
    """A LATERAL subquery choosing one `limits` row for the outer query's device `d` (a `devices` row).

    `pollutant` and `at` are SQL expressions (a column or a placeholder); `condition` narrows the candidates
    (alias `lim`); `bases` come first in this order, any other basis after them.
    """
    unknown = [b for b in bases if b not in LIMIT_BASES]
    if unknown or not bases:
        raise ValueError(f"bases must be some of {', '.join(LIMIT_BASES)}, not {unknown or 'none'}")
    order = ", ".join(f"'{b}'" for b in bases)  # checked against LIMIT_BASES above: no text from outside
    return f"""(
    SELECT * FROM limits lim
    WHERE lim.pollutant = {pollutant} AND {condition} AND lim.valid_from <= {at}
      AND (lim.valid_to IS NULL OR lim.valid_to > {at})
      AND (lim.scope = 'default' OR (lim.scope = 'site' AND lim.site_id = d.site_id)
           OR (lim.scope = 'device' AND lim.device_id = d.id))
      AND (lim.scope = 'device' OR cardinality(lim.point_kinds) = 0 OR d.point_kind = ANY(lim.point_kinds))
    ORDER BY CASE lim.scope WHEN 'device' THEN 0 WHEN 'site' THEN 1 ELSE 2 END,
             array_position(ARRAY[{order}], lim.basis) NULLS LAST, lim.valid_from DESC
    LIMIT 1
)"""
