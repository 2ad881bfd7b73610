"""The CP data area: `;`-separated items of `,`-separated `name=value` fields, parsed and built."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.times import format_cst, parse_cst

NUMERIC_FIELDS = frozenset({"Rtd", "Min", "Avg", "Max", "Cou", "ZsRtd", "ZsAvg", "ZsMin", "ZsMax"})
# Per-pollutant fields kept as text: when the sample was taken, the device's own flag.
TEXT_FIELDS = frozenset({"SampleTime", "EFlag"})
TIME_NAMES = frozenset({"DataTime", "BeginTime", "EndTime"})
INT_NAMES = frozenset({"QnRtn", "ExeRtn"})
# Plain fields of other commands that are understood but not interpreted here.
OTHER_NAMES = frozenset({"RtdInterval", "MinInterval", "SystemTime", "RestartTime", "PolId", "OverTime", "ReCount"})
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_CODE = re.compile(r"[A-Za-z0-9]{1,12}")
_WHOLE = re.compile(r"-?[0-9]{1,9}")
_FLAG_TEXT = re.compile(r"[^;,=&\r\n]*")

Kind = Literal["time", "int", "value", "flag", "text", "other", "unknown"]


@dataclass(frozen=True, slots=True)
class PollutantValue:
    """One value of a pollutant, e.g. `w01018-Rtd=42.5` with its `w01018-Flag` (None when absent)."""

    code: str
    field: str
    value: float
    flag: str | None = None

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise FieldError("code", f"pollutant code {self.code!r} is malformed")
        if self.field not in NUMERIC_FIELDS:
            raise FieldError(self.field, f"{self.field!r} is not a value field ({', '.join(sorted(NUMERIC_FIELDS))})")
        if not math.isfinite(self.value):
            raise FieldError(f"{self.code}-{self.field}", f"{self.code}-{self.field} must be finite, not {self.value}")
        if self.flag is not None and not _FLAG_TEXT.fullmatch(self.flag):
            raise FieldError(f"{self.code}-Flag", f"flag {self.flag!r} of {self.code} contains separators")


@dataclass(frozen=True, slots=True)
class DataArea:
    """A parsed CP data area; times are aware UTC datetimes, unknown fields are kept as `name=value`."""

    data_time: datetime | None = None
    values: tuple[PollutantValue, ...] = ()
    begin_time: datetime | None = None
    end_time: datetime | None = None
    qn_rtn: int | None = None
    exe_rtn: int | None = None
    other: tuple[tuple[str, str], ...] = ()
    unknown: tuple[str, ...] = ()


def classify(name: str) -> Kind:
    """What kind of field a CP field name is (a `code-Field` name or a plain name)."""
    code, sep, suffix = name.partition("-")
    if not sep:
        return _plain_kind(name)
    if not _CODE.fullmatch(code):
        return "unknown"
    if suffix in NUMERIC_FIELDS:
        return "value"
    if suffix == "Flag":
        return "flag"
    return "text" if suffix in TEXT_FIELDS else "unknown"


def _plain_kind(name: str) -> Kind:
    """The kind of a field name without a pollutant code."""
    if name in TIME_NAMES:
        return "time"
    if name in INT_NAMES:
        return "int"
    return "other" if name in OTHER_NAMES else "unknown"


def split_fields(text: str) -> list[tuple[str, str]]:
    """The `name=value` fields of a CP text in order; empty items are skipped, duplicates refused."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in text.split(";"):
        for part in filter(None, item.split(",")):
            name, sep, value = part.partition("=")
            if not sep or not name:
                raise FieldError("CP", f"CP field {part!r} is not name=value")
            if name in seen:
                raise FieldError(name, f"duplicate CP field {name}")
            seen.add(name)
            pairs.append((name, value))
    return pairs


def parse_number(name: str, text: str) -> float:
    """A finite decimal number; FieldError naming the field for anything else (abc, NaN, inf, empty)."""
    if not _NUMBER.fullmatch(text):
        raise FieldError(name, f"{name}: {text!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise FieldError(name, f"{name}: {text!r} is out of range")
    return value


def _parse_int(name: str, text: str) -> int:
    """A whole number such as QnRtn or ExeRtn."""
    if not _WHOLE.fullmatch(text):
        raise FieldError(name, f"{name}: {text!r} is not a whole number")
    return int(text)


def parse_cp(text: str) -> DataArea:
    """The data area in a CP text (without the `&&` around it)."""
    pairs = split_fields(text)
    kinds = [(name, value, classify(name)) for name, value in pairs]
    flags = {name.partition("-")[0]: value for name, value, kind in kinds if kind == "flag"}
    values = tuple(_pollutant_value(name, value, flags) for name, value, kind in kinds if kind == "value")
    times = {name: parse_cst(value, name) for name, value, kind in kinds if kind == "time"}
    ints = {name: _parse_int(name, value) for name, value, kind in kinds if kind == "int"}
    return DataArea(
        data_time=times.get("DataTime"),
        values=values,
        begin_time=times.get("BeginTime"),
        end_time=times.get("EndTime"),
        qn_rtn=ints.get("QnRtn"),
        exe_rtn=ints.get("ExeRtn"),
        other=tuple((name, value) for name, value, kind in kinds if kind in ("other", "text")),
        unknown=_unknown_fields(kinds, {v.code for v in values}),
    )


def _pollutant_value(name: str, text: str, flags: dict[str, str]) -> PollutantValue:
    """A `code-Field=value` pair with the code's flag attached."""
    code, _, field = name.partition("-")
    return PollutantValue(code=code, field=field, value=parse_number(name, text), flag=flags.get(code))


def _unknown_fields(kinds: list[tuple[str, str, Kind]], codes_with_values: set[str]) -> tuple[str, ...]:
    """Fields not understood, and `-Flag` fields of codes that carry no value."""
    return tuple(
        f"{name}={value}"
        for name, value, kind in kinds
        if kind == "unknown" or (kind == "flag" and name.partition("-")[0] not in codes_with_values)
    )


def format_number(value: float) -> str:
    """A float as positional decimal text that reads back to the same float (no exponent)."""
    if not math.isfinite(value):
        raise ValueError(f"HJ 212 cannot carry the value {value}")
    return format(Decimal(repr(value)), "f")


def build_cp(data_time: datetime | None, values: Sequence[PollutantValue]) -> str:
    """CP text for data uploads: `DataTime=...;` then one item per code with its fields and `-Flag`."""
    items = [] if data_time is None else [f"DataTime={format_cst(data_time)}"]
    codes = list(dict.fromkeys(v.code for v in values))
    items.extend(_build_item(code, [v for v in values if v.code == code]) for code in codes)
    return ";".join(items)


def _build_item(code: str, values: Sequence[PollutantValue]) -> str:
    """One CP item: `code-Field=value,...` and the code's flag last."""
    flags = {v.flag for v in values if v.flag is not None}
    if len(flags) > 1:
        raise FieldError(f"{code}-Flag", f"values of {code} carry different flags: {', '.join(sorted(flags))}")
    parts = [f"{code}-{v.field}={format_number(v.value)}" for v in values]
    return ",".join(parts + [f"{code}-Flag={flag}" for flag in flags])


def build_time_range_cp(begin: datetime, end: datetime) -> str:
    """CP text of a history request: `BeginTime=...;EndTime=...` in CST."""
    if end < begin:
        raise ValueError("EndTime must not be before BeginTime")
    return f"BeginTime={format_cst(begin)};EndTime={format_cst(end)}"


def build_return_cp(name: Literal["QnRtn", "ExeRtn"], code: int) -> str:
    """CP text of a request reply (`QnRtn=N`) or an execution result (`ExeRtn=N`)."""
    return f"{name}={int(code)}"
