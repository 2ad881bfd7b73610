"""A batch's readings as the rules take them: rows of known series, in (series, time) order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerts.rules.frame import BoolArray, FloatArray, IntArray, UInt8Array
from envmon.columns import ReadingColumns


@dataclass(frozen=True, slots=True)
class SortedRows:
    """Columns of the rows of known series, sorted by (series, time): the order every rule wants."""

    series: IntArray
    time_s: FloatArray
    value: FloatArray
    flag: UInt8Array
    basis: npt.NDArray[np.int8]

    @classmethod
    def of(cls, batch: ReadingColumns, known: BoolArray, series: IntArray) -> SortedRows:
        """The `known` rows of a batch, with their `series`, in (series, time) order."""
        time_s = batch.time_us[known] / 1e6
        order = np.lexsort((time_s, series))
        return cls(series[order], time_s[order], batch.value[known][order], batch.flag[known][order],
                   batch.basis[known][order])

    def take(self, rows: BoolArray) -> SortedRows:
        """The chosen rows, still in order."""
        return SortedRows(self.series[rows], self.time_s[rows], self.value[rows], self.flag[rows], self.basis[rows])
