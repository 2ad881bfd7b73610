"""The numpy-built binary COPY stream equals what PostgreSQL itself writes for the same rows, in their order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from envmon.columns import ReadingColumns, Row
from ingest.copy_binary import encode_columns
from ingest.rows import COLUMNS

T0 = datetime(2026, 11, 22, 4, 0, 0, 123456, tzinfo=UTC)


def _rows() -> list[Row]:
    recv = T0 + timedelta(seconds=1)
    rows = []
    for seq, device in ((1, 7), (2, 7), (1, 9)):
        t = T0 + timedelta(seconds=30 * seq)
        for code, value, flag in (("w20117", 0.0425, "N"), ("w01001", -7.25, "C"), ("w00000", 1e-9, "N")):
            rows.append(Row(t, device, code, "instant", value, flag, seq, recv))
    rows.append(
        Row(datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), 2**31 - 1, "s01001", "minute", 1e300, "T", 2**62, T0)
    )
    return rows


def test_encoded_stream_matches_postgresql_binary_copy(db: psycopg.Connection) -> None:
    rows = _rows()
    data = encode_columns(ReadingColumns.from_rows(rows))
    cols = ", ".join(COLUMNS)
    with db.cursor() as cur:
        with cur.copy(f"COPY readings ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(data)
        stored = cur.execute(f"SELECT {cols} FROM readings ORDER BY seq, device_id, pollutant").fetchall()
        assert sorted(stored, key=lambda r: (r[6], r[1], r[2])) == sorted(
            [tuple(r) for r in rows], key=lambda r: (r[6], r[1], r[2])
        )
        out = bytearray()
        order = ", ".join(f"'{r.pollutant}{r.device_id}{r.seq}'" for r in rows)
        query = (
            f"COPY (SELECT {cols} FROM readings ORDER BY array_position(ARRAY[{order}], pollutant || device_id || seq)) "
            "TO STDOUT (FORMAT BINARY)"
        )
        with cur.copy(query) as copy:
            for chunk in copy:
                out += chunk
    assert bytes(out) == data
