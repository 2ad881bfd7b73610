"""Pure parts of exports: the local date range, the file name, and XLSX sheets that continue past the row limit."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dashboard.export import COLUMNS, ExportError, ExportTarget, parse_range, target_condition
from dashboard.export_files import write_workbook
from dashboard.export_routes import file_name

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("start", "end", "want"), [
    pytest.param("2026-11-02", "2026-11-02", (datetime(2026, 11, 1, 16, tzinfo=UTC), datetime(2026, 11, 2, 16, tzinfo=UTC)),
                 id="one-local-day-end-inclusive"),
    pytest.param("2026-11-02T08:30", "2026-11-02T09:00", (datetime(2026, 11, 2, 0, 30, tzinfo=UTC), datetime(2026, 11, 2, 1, tzinfo=UTC)),
                 id="local-date-times"),
    pytest.param("2026-11-02T00:00+00:00", "2026-11-03", (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, 16, tzinfo=UTC)),
                 id="explicit-offset-wins"),
])
def test_parse_range_reads_local_days_and_times(start: str, end: str, want: tuple[datetime, datetime]) -> None:
    assert parse_range(start, end, SHANGHAI) == want


@pytest.mark.parametrize(("start", "end"), [
    pytest.param("2026-11-03", "2026-11-02", id="reversed"),
    pytest.param("2026-11-02T10:00", "2026-11-02T10:00", id="empty"),
    pytest.param("2026-13-01", "2026-11-02", id="no-such-month"),
    pytest.param("", "2026-11-02", id="blank"),
])
def test_parse_range_refuses_bad_ranges(start: str, end: str) -> None:
    with pytest.raises(ExportError):
        parse_range(start, end, SHANGHAI)


def _target(site: str | None = None, device: str | None = None, district: str | None = None) -> ExportTarget:
    t = datetime(2026, 11, 1, 16, tzinfo=UTC)
    return ExportTarget(site, device, district, t, t.replace(day=3))


def test_an_export_needs_a_target() -> None:
    with pytest.raises(ExportError):
        target_condition(_target())


@pytest.mark.parametrize(("target", "name"), [
    pytest.param(_target(site="T-001"), "envmon-readings-T-001-20261102-20261104.csv", id="plant"),
    pytest.param(_target(device='a"b/c'), "envmon-readings-a_b_c-20261102-20261104.csv", id="quotes-and-slashes-replaced"),
    pytest.param(_target(district="fengxian", site="F-1"), "envmon-readings-fengxian-F-1-20261102-20261104.csv", id="district-and-plant"),
])
def test_file_name_is_safe_in_a_header(target: ExportTarget, name: str) -> None:
    assert file_name(target, "readings", "csv", SHANGHAI) == name


def test_workbook_continues_on_a_new_sheet_at_the_row_limit(tmp_path: Path) -> None:
    columns = COLUMNS["readings"]
    rows = iter([(datetime(2026, 11, 2, 0, i), "T-001", "MN", "w20117", "六价铬", i / 10, "mg/L", "N", "是", None,
                  "N", None, None) for i in range(7)])
    path = tmp_path / "x.xlsx"
    written = write_workbook(path, rows, columns, [c.key for c in columns], "原始数据", tmpdir=tmp_path, max_rows=4)
    with zipfile.ZipFile(path) as z:
        sheets = sorted(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
        workbook = z.read("xl/workbook.xml").decode()
    assert written == 7
    assert sheets == ["xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml"]
    assert 'name="原始数据"' in workbook and 'name="原始数据 (2)"' in workbook and 'name="原始数据 (3)"' in workbook


def test_only_free_text_columns_are_defused_against_formulas() -> None:
    from dashboard.export import Column
    from dashboard.export_files import csv_safe_query

    sql = csv_safe_query("SELECT 1", [Column("a", "code"), Column("b", "text"), Column("c", "number")])
    assert sql.startswith("SELECT c0, CASE WHEN left(c1, 1) IN") and sql.endswith(", c2 FROM (SELECT 1) AS q(c0, c1, c2)")
