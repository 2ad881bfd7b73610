"""ingest.quarantine: whatever a message held, its quarantine row is one PostgreSQL can store."""

from __future__ import annotations

import pytest

from ingest.quarantine import DETAIL_LIMIT_CHARS, RAW_LIMIT_BYTES, QuarantineEntry, safe_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("plain", "plain", id="plain"),
        pytest.param("中文 ü", "中文 ü", id="unicode-kept"),
        pytest.param("zz\x00x", "zz\\x00x", id="nul"),
        pytest.param("flag N\x00", "flag N\\x00", id="nul-at-end"),
        pytest.param("a\ud800b", "a\\ud800b", id="lone-surrogate"),
        pytest.param("tab\tline\n", "tab\tline\n", id="whitespace-kept"),
    ],
)
def test_safe_text_escapes_what_a_text_column_refuses(text: str, expected: str) -> None:
    assert safe_text(text, 100) == expected
    safe_text(text, 100).encode("utf-8")  # a lone surrogate would raise here


def test_row_is_bounded_and_free_of_nul() -> None:
    entry = QuarantineEntry("mqtt", "envmon/v1/x\x00/up", "D\x00", "invalid_text\x00", "x\x00" * 5000, b"\x00" * 9000)
    row = entry.row()
    texts = [t for t in row if isinstance(t, str)]
    assert all("\x00" not in t for t in texts)
    assert len(row[4]) <= 2 * DETAIL_LIMIT_CHARS * 4  # escapes lengthen the cut text, never unbounded
    assert row[5] == b"\x00" * RAW_LIMIT_BYTES and row[6] is True  # raw bytes kept as they came (bytea)


def test_plain_entry_is_ascii_only() -> None:
    entry = QuarantineEntry("hj212", "1.2.3.4:5", "M", "r", "détail \ud800", b"raw").plain()
    assert entry.detail.isascii() and entry.reason == "unstorable_entry" and entry.raw == b"raw"
