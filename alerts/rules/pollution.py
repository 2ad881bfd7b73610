"""Readings judged against their limits: the instantaneous check (discharge pre-warnings, gas alarms) as one
vectorised look-up per batch, and one observation per reading that breaches or whose key is not inactive.

The hourly and daily means (alerts/rules/means.py) and late readings (alerts/rules/late.py) make their
observations through `PollutionJudge.observe_limit` too, so a limit's words, side and judged value are set in
one place.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from alerts.model import AlertKey
from alerts.rules.frame import RULE_ROW, BoolArray, EngineFrame, FloatArray, IntArray
from alerts.rules.keys import KeyBook, Observation
from alerts.rules.limits import LANE_INSTANT
from alerts.rules.policy import Policy


class PollutionJudge:
    """Turns readings and means into limit observations for the key book."""

    def __init__(self, frame: EngineFrame, policy: Policy, keys: KeyBook) -> None:
        self._frame = frame
        self._policy = policy
        self._keys = keys

    def judge_instants(self, series: IntArray, time_s: FloatArray, value: FloatArray, judged: BoolArray,
                       over: BoolArray) -> None:
        """Rows in (series, time) order; `judged` the rows that count (N, or T taken as full scale)."""
        limits, active = self._frame.limits, self._keys.masks.series
        index = limits.lookup(LANE_INSTANT, series, time_s)
        tier = limits.tiers(index, value)
        pending = active[RULE_ROW["instant"], series] | active[RULE_ROW["gas"], series]
        picked = np.flatnonzero(judged & ((tier > 0) | pending))
        if len(picked) == 0:
            return
        columns = (series[picked], time_s[picked], value[picked], index[picked], tier[picked], over[picked],
                   self._frame.range_hi[series[picked]])
        for s, t, v, i, k, is_over, full_scale in zip(*(c.tolist() for c in columns), strict=True):
            rule = "gas" if limits.is_gas[i] else "instant"
            detail: dict[str, Any] = {"over_range": is_over}
            if is_over and math.isfinite(full_scale):
                detail["range_upper"] = full_scale
            self.observe_limit(rule, s, t, v, i, k, detail)

    def active_of(self, rule: str, series: IntArray) -> BoolArray:
        """Whether the key of `rule` of each series is pending or firing."""
        active: BoolArray = self._keys.masks.series[RULE_ROW[rule], series]
        return active

    def observe_limit(self, rule: str, series: int, time_s: float, value: float, index: int, tier: int,
                      detail: dict[str, Any]) -> None:
        """One value of a series against limit `index` (-1: none applies), reaching `tier`."""
        device_id, code = self._frame.layout.key_of(series)
        key = AlertKey(device_id, code, rule)
        st = self._keys.states.get(key)
        ratio = self._policy.rule(rule).clear_ratio
        lt = self._frame.limits
        held = lt.held_tier(index, value, st.tier, ratio, tier) if st is not None and index >= 0 else 0
        limit = lt.limits[index] if index >= 0 else None
        below = limit is not None and limit.lower is not None and (limit.upper is None or value < limit.lower)
        detail["side"] = "lower" if below else "upper"
        if limit is not None:
            detail.update(lt.words[index])  # the warning line, and which mean's limit an instant pre-warns of
            if rule != "instant":
                detail.pop("prewarning_of", None)
        # The value as judged (exact decimal), so no float artefact reaches a record or a message.
        obs = Observation(time_s, tier, held, lt.judged_value(index, value), limit.limit_id if limit else None,
                          lt.limit_value(index, value, max(tier, held)), detail)
        self._keys.observe(key, obs, -1 if below else 1)
