"""Export files, streamed with constant memory: CSV straight from PostgreSQL's COPY, XLSX through XlsxWriter.

CSV starts with a UTF-8 byte order mark: without it Excel on a Chinese Windows reads the file as GBK and
garbles every Chinese name. Text cells that a spreadsheet would take for a formula (=, +, -, @, tab, CR)
get a leading apostrophe (OWASP "CSV injection"): notes and reasons are typed by people.
XLSX uses XlsxWriter's constant_memory mode (each row goes to a temporary file as it is written); the
finished file is then sent in blocks and deleted.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import xlsxwriter  # type: ignore[import-untyped]

from dashboard.export import Column, copy_csv, stream_rows

CHUNK_BYTES = 64 * 1024
XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, the header included: longer exports continue on a new sheet
BOM = "\ufeff".encode()
_FORMULA_START = "('=', '+', '-', '@', E'\\t', E'\\r')"


def csv_header(headers: Sequence[str]) -> bytes:
    """One CSV line of the headers."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(headers)
    return out.getvalue().encode()


def csv_safe_query(sql: str, columns: Sequence[Column]) -> str:
    """The query with each free-text column defused against formula injection (codes, numbers, times as they are)."""
    names = [f"c{i}" for i in range(len(columns))]
    outer = [
        f"CASE WHEN left({n}, 1) IN {_FORMULA_START} THEN '''' || {n} ELSE {n} END" if c.type == "text" else n
        for n, c in zip(names, columns, strict=True)
    ]
    return f"SELECT {', '.join(outer)} FROM ({sql}) AS q({', '.join(names)})"


def csv_chunks(conn: psycopg.Connection, sql: str, params: dict[str, Any], columns: Sequence[Column],
               headers: Sequence[str]) -> Iterator[bytes]:
    """BOM, header, then the rows in blocks of about CHUNK_BYTES (libpq hands COPY data over row by row)."""
    buffer = bytearray(BOM + csv_header(headers))
    for data in copy_csv(conn, csv_safe_query(sql, columns), params):
        buffer += data
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


def xlsx_chunks(conn: psycopg.Connection, sql: str, params: dict[str, Any], columns: Sequence[Column],
                headers: Sequence[str], sheet: str) -> Iterator[bytes]:
    """The workbook built on disk row by row, then read back in blocks; the temporary folder is removed."""
    folder = Path(tempfile.mkdtemp(prefix="envmon-export-"))
    try:
        path = folder / "export.xlsx"
        write_workbook(path, stream_rows(conn, sql, params), columns, headers, sheet, tmpdir=folder)
        with path.open("rb") as f:
            while block := f.read(CHUNK_BYTES):
                yield block
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_workbook(path: Path, rows: Iterator[Sequence[Any]], columns: Sequence[Column], headers: Sequence[str],
                   sheet: str, *, tmpdir: Path, max_rows: int = XLSX_MAX_ROWS) -> int:
    """Write the rows to an XLSX file in constant memory, a new sheet every max_rows; returns the data rows."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "tmpdir": str(tmpdir)})
    bold = book.add_format({"bold": True})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    written, at, page = 0, max_rows, None
    for row in rows:
        if at >= max_rows:
            page = book.add_worksheet(sheet if page is None else f"{sheet} ({written // (max_rows - 1) + 1})")
            page.write_row(0, 0, headers, bold)
            at = 1
        _write_cells(page, at, row, columns, when)
        at += 1
        written += 1
    if page is None:
        book.add_worksheet(sheet).write_row(0, 0, headers, bold)
    book.close()
    return written


def _write_cells(page: Any, at: int, row: Sequence[Any], columns: Sequence[Column], when: Any) -> None:
    for i, (value, column) in enumerate(zip(row, columns, strict=True)):
        if value is None:
            continue
        if column.type == "time":
            page.write_datetime(at, i, value, when)
        elif column.type in ("number", "int"):
            page.write_number(at, i, value)
        else:
            page.write_string(at, i, str(value))  # never a formula, whatever the text starts with
