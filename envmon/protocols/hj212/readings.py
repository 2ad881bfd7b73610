"""Data uploads (CN 2011, 2051, 2061, 2031) into `Reading` values in canonical units, with problems listed.

A flue-gas value corrected to the reference O2 (`a21026-ZsRtd`, `-ZsAvg`) becomes a reading of the
corrected code (`a21026z`, see envmon.catalogue) beside the measured one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from envmon.catalogue import Catalogue
from envmon.domain import Basis, Reading, is_flag_letter
from envmon.protocols.hj212.cp import DataArea, PollutantValue, parse_cp
from envmon.protocols.hj212.message import Message
from envmon.protocols.hj212.times import CST
from envmon.protocols.mqtt_json import EARLIEST, MAX_FUTURE_SECONDS

# Which basis each upload command stands for, and which field holds its value.
UPLOADS: dict[str, tuple[Basis, str]] = {
    "2011": ("instant", "Rtd"),
    "2051": ("minute", "Avg"),
    "2061": ("hour", "Avg"),
    "2031": ("day", "Avg"),
}
# DataTime further ahead of the platform clock than this, or before 2000 (a logger clock reset to
# 1970), is refused with a reason, as for MQTT devices (envmon/protocols/mqtt_json.py).
MAX_AHEAD_SECONDS = MAX_FUTURE_SECONDS


@dataclass(frozen=True, slots=True)
class _Upload:
    """What every reading of one message shares."""

    device: str
    cn: str
    time: datetime
    basis: Basis
    field: str


def message_readings(
    msg: Message, catalogue: Catalogue, *, now: datetime, factors: Mapping[str, float] | None = None
) -> tuple[list[Reading], list[str]]:
    """The readings in a data upload, and what could not be understood, as sentences for people.

    Parses the CP text, so a malformed CP raises FieldError; unknown codes and flags are problems.
    `factors` are the device's own unit factors per canonical code (ingest.directory.DeviceInfo).
    """
    if msg.cn not in UPLOADS:
        return [], [f"CN {msg.cn} is not a data upload ({', '.join(UPLOADS)})"]
    area = parse_cp(msg.cp)
    if area.data_time is None:
        return [], [f"CN {msg.cn} message from {msg.mn} has no DataTime; its values were skipped"]
    clock = _clock_problem(area.data_time, now)
    if clock is not None:
        return [], [clock, *_area_problems(area)]
    upload = _Upload(msg.mn, msg.cn, area.data_time, *UPLOADS[msg.cn])
    codes = dict.fromkeys(v.code for v in area.values)
    own = factors or {}
    results = [r for code in codes for r in _code_readings(upload, area.values, code, catalogue, own)]
    readings, repeats = _first_per_pollutant([r for r in results if isinstance(r, Reading)])
    problems = _area_problems(area) + [r for r in results if isinstance(r, str)] + repeats
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


def _area_problems(area: DataArea) -> list[str]:
    """Problems that concern the whole data area: unknown fields."""
    return [f"unknown CP field {item}" for item in area.unknown]


def _clock_problem(data_time: datetime, now: datetime) -> str | None:
    """Why a DataTime cannot be a sample time (a logger clock far ahead, or reset), or None."""
    local = data_time.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")
    if (data_time - now).total_seconds() > MAX_AHEAD_SECONDS:
        return (f"DataTime {local} CST is ahead of the platform clock by more than {MAX_AHEAD_SECONDS:g} s: "
                "its values were refused; check the logger's clock")
    if data_time < EARLIEST:
        return f"DataTime {local} CST is before 2000 (a logger clock reset?): its values were refused"
    return None


def _code_readings(
    upload: _Upload, values: tuple[PollutantValue, ...], code: str, catalogue: Catalogue, factors: Mapping[str, float]
) -> list[Reading | str]:
    """The measured reading of one code and, when the logger sent one, its corrected (Zs) reading."""
    if code not in catalogue:
        return [f"unknown pollutant code {code}"]
    pollutant = catalogue.get(code)
    found: list[Reading | str] = []
    measured = _field_reading(upload, values, code, upload.field, pollutant.code, catalogue, factors)
    corrected = catalogue.corrected.get(pollutant.code)
    zs = None if corrected is None else _field_reading(upload, values, code, "Zs" + upload.field, corrected, catalogue,
                                                       factors, unit_of=pollutant.code)
    if measured is not None or zs is None:
        found.append(measured or f"no {upload.field} value for {code} in a CN {upload.cn} message")
    if zs is not None:
        found.append(zs)
    return found


def _field_reading(
    upload: _Upload,
    values: tuple[PollutantValue, ...],
    code: str,
    field: str,
    stored_code: str,
    catalogue: Catalogue,
    factors: Mapping[str, float],
    unit_of: str | None = None,
) -> Reading | str | None:
    """The reading of one field of a code (None when absent) under `stored_code`; `unit_of` names the
    channel whose unit the value is in (a Zs value is in its measured channel's unit)."""
    value = next((v for v in values if v.code == code and v.field == field), None)
    if value is None:
        return None
    flag = "N" if value.flag is None else value.flag
    if not is_flag_letter(flag):
        # A letter outside the 2017 list (P, power failure, of HJ/T 212-2005) is kept as abnormal.
        return f"flag {flag[:8]!r} of {code} is not one letter; its value was skipped"
    channel = unit_of or stored_code
    factor = factors.get(channel, catalogue.get(channel).protocol_factor)
    return Reading(
        device=upload.device,
        pollutant=stored_code,
        time=upload.time,
        value=value.value * factor,
        flag=flag,
        basis=upload.basis,
        seq=int(upload.time.timestamp()),
    )
