"""The data segment: `QN=...;ST=..;CN=....;PW=...;MN=...;Flag=.;CP=&&...&&` as a validated `Message`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from envmon.protocols.hj212.errors import FieldError
from envmon.protocols.hj212.frame import decode_frame, encode_frame

# Flag layout, high to low: 6 version bits, D (split packet), A (reply wanted).
FLAG_REPLY = 0b01
FLAG_SPLIT = 0b10
VERSION_BITS: dict[str, int] = {"2005": 0, "2017": 1, "2025": 2}
_VERSION_NAMES = {bits: name for name, bits in VERSION_BITS.items()}

_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "QN": (re.compile(r"[0-9]{17}"), "17 digits YYYYMMDDhhmmsszzz"),
    "ST": (re.compile(r"[0-9]{2}"), "2 digits"),
    "CN": (re.compile(r"[0-9]{4}"), "4 digits"),
    "PW": (re.compile(r"[0-9A-Za-z_.\-]{1,16}"), "1 to 16 letters or digits"),
    "MN": (re.compile(r"[0-9A-Za-z_.\-]{1,24}"), "1 to 24 letters or digits"),
}
_INTEGER = re.compile(r"[0-9]{1,5}")
HEADER_ORDER = ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")


def flag_for(version: str, *, wants_reply: bool, split: bool = False) -> int:
    """The Flag value for a protocol version ("2005", "2017", "2025") and the D and A bits."""
    if version not in VERSION_BITS:
        raise ValueError(f"unknown HJ 212 version {version!r} (expected {', '.join(VERSION_BITS)})")
    return VERSION_BITS[version] << 2 | (FLAG_SPLIT if split else 0) | (FLAG_REPLY if wants_reply else 0)


@dataclass(frozen=True, slots=True)
class Message:
    """One HJ 212 data segment; `cp` is the raw text between `CP=&&` and the final `&&`.

    Frames without a Flag come from older loggers: `version` is then "2005" (version bits 0).
    Parsing does not depend on the version: 2005, 2017 and 2025 share the segment grammar.
    """

    st: str
    cn: str
    mn: str
    cp: str = ""
    qn: str | None = None
    pw: str | None = None
    flag: int | None = None
    pnum: int | None = None
    pno: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("QN", self.qn), ("ST", self.st), ("CN", self.cn), ("PW", self.pw), ("MN", self.mn)):
            _check_text(name, value)
        if self.flag is not None and not 0 <= self.flag <= 255:
            raise FieldError("Flag", f"Flag {self.flag} is outside 0..255")
        _check_packets(self.pnum, self.pno)
        if "\r" in self.cp or "\n" in self.cp:
            raise FieldError("CP", "CP contains a line break")

    @property
    def version(self) -> str:
        """The protocol version from the Flag's version bits ("2005" when there is no Flag)."""
        bits = 0 if self.flag is None else self.flag >> 2
        return _VERSION_NAMES.get(bits, f"unknown ({bits})")

    @property
    def wants_reply(self) -> bool:
        """Whether the sender asks for a reply (Flag bit A)."""
        return self.flag is not None and bool(self.flag & FLAG_REPLY)

    @property
    def is_split(self) -> bool:
        """Whether this is one packet of a split message (Flag bit D)."""
        return self.flag is not None and bool(self.flag & FLAG_SPLIT)


def _check_text(name: str, value: str | None) -> None:
    """A header text field must match its pattern when present."""
    if value is None:
        return
    pattern, shape = _PATTERNS[name]
    if not pattern.fullmatch(value):
        raise FieldError(name, f"{name} {value!r} is malformed: expected {shape}")


def _check_packets(pnum: int | None, pno: int | None) -> None:
    """PNUM and PNO come together, with 1 <= PNO <= PNUM."""
    if (pnum is None) != (pno is None):
        missing = "PNO" if pno is None else "PNUM"
        raise FieldError(missing, f"missing field {missing}: PNUM and PNO come together")
    if pnum is not None and pno is not None and not 1 <= pno <= pnum:
        raise FieldError("PNO", f"PNO {pno} is outside 1..PNUM ({pnum})")


def parse_segment(text: str) -> Message:
    """The `Message` in a data segment; FieldError names the missing, repeated or malformed field."""
    header_text, cp = _split_cp(text)
    fields = _header_fields(header_text)
    for required in ("ST", "CN", "MN"):
        if required not in fields:
            raise FieldError(required, f"missing field {required}")
    return Message(
        st=fields["ST"],
        cn=fields["CN"],
        mn=fields["MN"],
        cp=cp,
        qn=fields.get("QN"),
        pw=fields.get("PW"),
        flag=_optional_int(fields, "Flag"),
        pnum=_optional_int(fields, "PNUM"),
        pno=_optional_int(fields, "PNO"),
    )


def _split_cp(text: str) -> tuple[str, str]:
    """The header part and the CP text; CP runs from `CP=&&` to the final `&&`."""
    start = text.find("CP=&&")
    if start < 0:
        raise FieldError("CP", "missing field CP (expected CP=&&...&& at the end of the data segment)")
    if start > 0 and text[start - 1] != ";":
        raise FieldError("CP", "CP must follow a ';'")
    if not text.endswith("&&") or len(text) < start + 7:
        raise FieldError("CP", "CP does not end with '&&' at the end of the data segment")
    return text[:start].removesuffix(";"), text[start + 5 : -2]


def _header_fields(text: str) -> dict[str, str]:
    """The `key=value` fields before CP, each known and present at most once."""
    fields: dict[str, str] = {}
    for part in text.split(";") if text else []:
        key, sep, value = part.partition("=")
        if not sep:
            raise FieldError(key, f"field {part!r} is not key=value")
        if key not in HEADER_ORDER:
            raise FieldError(key, f"unknown field {key!r} in the data segment")
        if key in fields:
            raise FieldError(key, f"duplicate field {key}")
        fields[key] = value
    return fields


def _optional_int(fields: dict[str, str], name: str) -> int | None:
    """An integer header field (Flag, PNUM, PNO), or None when absent."""
    text = fields.get(name)
    if text is None:
        return None
    if not _INTEGER.fullmatch(text):
        raise FieldError(name, f"{name} {text!r} is not a whole number")
    return int(text)


def build_segment(message: Message) -> str:
    """The data segment text for `message`: QN, ST, CN, PW, MN, Flag, PNUM, PNO, CP in that order."""
    values = (message.qn, message.st, message.cn, message.pw, message.mn, message.flag, message.pnum, message.pno)
    parts = [f"{key}={value}" for key, value in zip(HEADER_ORDER, values, strict=True) if value is not None]
    return ";".join([*parts, f"CP=&&{message.cp}&&"])


def encode_message(message: Message) -> bytes:
    """The complete frame (header, length, CRC, CRLF) carrying `message`."""
    return encode_frame(build_segment(message))


def decode_message(frame: bytes) -> Message:
    """The `Message` in a complete frame; FrameError, CrcError or FieldError when it is wrong."""
    return parse_segment(decode_frame(frame))
