"""The HJ 212 CRC (Appendix A): a CRC-16 variant that is not CRC-16/MODBUS."""

from __future__ import annotations


def _appendix_a_rounds(register: int) -> int:
    """Eight shift-and-xor rounds of Appendix A applied to the register."""
    for _ in range(8):
        carry = register & 1
        register >>= 1
        if carry:
            register ^= 0xA001
    return register


# After `reg = (reg >> 8) ^ byte` the register holds at most 8 bits, so the eight rounds that
# follow depend on one byte only: a 256-entry table gives them exactly.
_TABLE: tuple[int, ...] = tuple(_appendix_a_rounds(value) for value in range(256))


def crc16(data: bytes) -> int:
    """The Appendix A CRC of `data` (for a frame: the data segment only)."""
    register = 0xFFFF
    for byte in data:
        register = _TABLE[(register >> 8) ^ byte]
    return register


def crc_hex(data: bytes) -> str:
    """The Appendix A CRC of `data` as the 4 uppercase hex digits a frame carries."""
    return f"{crc16(data):04X}"
