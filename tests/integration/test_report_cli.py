"""`envmon report` as the lead wires it: the demo on a bare database, then an alert by id and by code."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import psycopg
import pytest

from alerts.reports.cli import add_report_parser
from alerts.reports.errors import ReportError
from envmon.settings import load_settings


def run(database_url: str, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="envmon")
    add_report_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", *argv])
    settings = load_settings(database_url=database_url, environment="test")
    return int(args.handler(args, settings))


def test_demo_needs_only_a_database_and_writes_a_pdf(fresh_database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "demo.pdf"
    assert run(fresh_database_url, "--demo", "--out", str(out), "--locale", "en") == 0
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, check=True, text=True).stdout
    assert "Shanghai Fengxian Xinda Electroplating" in text and "0.23 mg/L" in text
    with psycopg.connect(fresh_database_url) as conn:
        row = conn.execute("SELECT id, code FROM alerts WHERE state = 'escalated'").fetchone()
        assert row is not None
        stored = conn.execute("SELECT count(*) FROM reports WHERE alert_id = %s", (row[0],)).fetchone()
        assert stored == (1,)
    html = tmp_path / "by-code.html"
    assert run(fresh_database_url, row[1], "--out", str(html), "--locale", "zh-CN") == 0
    assert "六价铬" in html.read_text(encoding="utf-8")
    stored_pdf = tmp_path / "stored.pdf"
    assert run(fresh_database_url, str(row[0]), "--stored", "--locale", "en", "--out", str(stored_pdf)) == 0
    assert stored_pdf.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--out", "x.pdf"], id="neither-alert-nor-demo"),
        pytest.param(["12", "--demo", "--out", "x.pdf"], id="both"),
        pytest.param(["no-such-code!", "--out", "x.pdf"], id="not-a-code"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(database_url: str, argv: list[str]) -> None:
    with pytest.raises(ReportError):
        run(database_url, *argv)


@pytest.mark.parametrize("name", [
    pytest.param("ZZZZZZ", id="unknown-code"),
    pytest.param("999999", id="unknown-id"),
    pytest.param("no-such-code!", id="not-a-code"),
])
def test_an_unknown_alert_is_not_found(database_url: str, name: str) -> None:
    with pytest.raises(ReportError, match="not found"):
        run(database_url, name, "--out", "x.pdf")
