"""Data uploads (CN 2011, 2051, 2061, 2031) into `Reading` values in canonical units, with problems listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeGuard

from envmon.catalogue import Catalogue
from envmon.domain import FLAGS, Basis, Flag, Reading
from ingest.hj212.cp import DataArea, PollutantValue, parse_cp
from ingest.hj212.message import Message
from ingest.hj212.times import CST

# Which basis each upload command stands for, and which field holds its value.
UPLOADS: dict[str, tuple[Basis, str]] = {
    "2011": ("instant", "Rtd"),
    "2051": ("minute", "Avg"),
    "2061": ("hour", "Avg"),
    "2031": ("day", "Avg"),
}
# DataTime further ahead of the platform clock than this is reported (the readings are kept).
MAX_AHEAD_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class _Upload:
    """What every reading of one message shares."""

    device: str
    cn: str
    time: datetime
    basis: Basis
    field: str


def message_readings(msg: Message, catalogue: Catalogue, *, now: datetime) -> tuple[list[Reading], list[str]]:
    """The readings in a data upload, and what could not be understood, as sentences for people.

    Parses the CP text, so a malformed CP raises FieldError; unknown codes and flags are problems.
    """
    if msg.cn not in UPLOADS:
        return [], [f"CN {msg.cn} is not a data upload ({', '.join(UPLOADS)})"]
    area = parse_cp(msg.cp)
    if area.data_time is None:
        return [], [f"CN {msg.cn} message from {msg.mn} has no DataTime; its values were skipped"]
    upload = _Upload(msg.mn, msg.cn, area.data_time, *UPLOADS[msg.cn])
    codes = dict.fromkeys(v.code for v in area.values)
    results = [_code_reading(upload, area.values, code, catalogue) for code in codes]
    readings, repeats = _first_per_pollutant([r for r in results if isinstance(r, Reading)])
    problems = _area_problems(area, now) + [r for r in results if isinstance(r, str)] + repeats
    return readings, problems


def _first_per_pollutant(readings: list[Reading]) -> tuple[list[Reading], list[str]]:
    """One reading per pollutant: a legacy and a current code for the same one keep the first."""
    kept: dict[str, Reading] = {}
    repeats: list[str] = []
    for reading in readings:
        if reading.pollutant in kept:
            repeats.append(f"{reading.pollutant} appears more than once (legacy and current code?); kept the first")
        kept.setdefault(reading.pollutant, reading)
    return list(kept.values()), repeats


def _area_problems(area: DataArea, now: datetime) -> list[str]:
    """Problems that concern the whole data area: unknown fields, a logger clock far ahead."""
    problems = [f"unknown CP field {item}" for item in area.unknown]
    if area.data_time is not None and (area.data_time - now).total_seconds() > MAX_AHEAD_SECONDS:
        local = area.data_time.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")
        problems.append(f"DataTime {local} CST is ahead of the platform clock: check the logger's clock")
    return problems


def _code_reading(
    upload: _Upload, values: tuple[PollutantValue, ...], code: str, catalogue: Catalogue
) -> Reading | str:
    """The reading of one pollutant code, or why there is none."""
    if code not in catalogue:
        return f"unknown pollutant code {code}"
    value = next((v for v in values if v.code == code and v.field == upload.field), None)
    if value is None:
        return f"no {upload.field} value for {code} in a CN {upload.cn} message"
    flag = "N" if value.flag is None else value.flag
    if not _is_flag(flag):
        return f"unknown flag {flag} for {code}"
    return Reading(
        device=upload.device,
        pollutant=catalogue.get(code).code,
        time=upload.time,
        value=catalogue.to_canonical(code, value.value),
        flag=flag,
        basis=upload.basis,
        seq=int(upload.time.timestamp()),
    )


def _is_flag(flag: str) -> TypeGuard[Flag]:
    """Whether `flag` is one of the data flags N F M S D C T B."""
    return flag in FLAGS
