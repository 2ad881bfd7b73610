"""Minute and hourly summaries of a data logger (HJ 212 CN 2051 and 2061): avg, min, max and flag (pure).

Roll-up of flags as HJ 212 practice has it: for wastewater any abnormal value marks the interval
(the first abnormal flag seen); for flue gas the interval is normal when at least 75 % of its
values are normal, otherwise D.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from device_sim.samples import Sample

STEPS_SECONDS = {"minute": 60, "hour": 3600}
GAS_VALID_SHARE = 0.75


@dataclass(frozen=True, slots=True)
class Summary:
    """One interval's statistics per pollutant, in protocol units; `begin_s` is the interval start."""

    basis: str
    begin_s: float
    codes: tuple[str, ...]
    avg: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    flags: tuple[str, ...]


def rolled_up_flag(flags: list[str], is_flue_gas: bool) -> str:
    """The interval's flag from its samples' flags."""
    if is_flue_gas:
        return "N" if flags.count("N") >= GAS_VALID_SHARE * len(flags) else "D"
    return next((f for f in flags if f != "N"), "N")


@dataclass
class _Open:
    begin_s: float
    samples: list[Sample] = field(default_factory=list)


class Summariser:
    """Collects a logger's samples and hands back each interval once a later sample closes it."""

    def __init__(self, basis: str, is_flue_gas: bool) -> None:
        self.basis = basis
        self.step_s = STEPS_SECONDS[basis]
        self.is_flue_gas = is_flue_gas
        self._open: _Open | None = None

    def add(self, sample: Sample) -> Summary | None:
        """Add a sample; the summary of the interval it closed, if any."""
        begin = sample.time_s - sample.time_s % self.step_s
        closed = None
        if self._open is not None and begin != self._open.begin_s:
            closed = self._summarise(self._open)
            self._open = None
        if self._open is None:
            self._open = _Open(begin)
        self._open.samples.append(sample)
        return closed

    def _summarise(self, interval: _Open) -> Summary:
        codes = interval.samples[0].codes
        columns = list(zip(*(s.values for s in interval.samples), strict=True))
        flag_columns = list(zip(*(s.flags for s in interval.samples), strict=True))
        return Summary(
            basis=self.basis,
            begin_s=interval.begin_s,
            codes=codes,
            avg=tuple(round(sum(c) / len(c), 4) for c in columns),
            low=tuple(min(c) for c in columns),
            high=tuple(max(c) for c in columns),
            flags=tuple(rolled_up_flag(list(f), self.is_flue_gas) for f in flag_columns),
        )
