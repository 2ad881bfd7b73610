"""The HJ 212 Appendix A CRC: the standard's golden example, and how it differs from CRC-16/MODBUS."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from envmon.protocols.hj212.crc import crc16, crc_hex

GOLDEN_SEGMENT = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
)


def appendix_a(data: bytes) -> int:
    """The algorithm as the standard writes it, bit by bit (the test oracle)."""
    register = 0xFFFF
    for byte in data:
        register = (register >> 8) ^ byte
        for _ in range(8):
            carry = register & 1
            register >>= 1
            if carry:
                register ^= 0xA001
    return register


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS, which XORs each byte into the low byte of the whole register."""
    register = 0xFFFF
    for byte in data:
        register ^= byte
        for _ in range(8):
            register = (register >> 1) ^ 0xA001 if register & 1 else register >> 1
    return register


def test_golden_example_from_the_standard() -> None:
    assert crc16(GOLDEN_SEGMENT) == 0x1C80
    assert crc_hex(GOLDEN_SEGMENT) == "1C80"


def test_differs_from_crc16_modbus_on_the_golden_example() -> None:
    assert crc16_modbus(GOLDEN_SEGMENT) == 0x0759
    assert crc16(GOLDEN_SEGMENT) != crc16_modbus(GOLDEN_SEGMENT)


def test_empty_data_leaves_the_initial_register() -> None:
    assert crc_hex(b"") == "FFFF"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_table_driven_crc_equals_the_appendix_a_loop(data: bytes) -> None:
    assert crc16(data) == appendix_a(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_low_byte_of_a_crc_is_one_of_eight_values(data: bytes) -> None:
    assert crc16(data) & 0xFF in {0x00, 0x01, 0x40, 0x41, 0x80, 0x81, 0xC0, 0xC1}


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100))
def test_crc_hex_is_four_uppercase_hex_digits(data: bytes) -> None:
    text = crc_hex(data)
    assert re.fullmatch(r"[0-9A-F]{4}", text)
    assert int(text, 16) == crc16(data)
