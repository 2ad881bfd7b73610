"""Storage and write-cost benchmark for the capacity model (docs/scaling.md); prints one JSON object.

On a private durable stack (TimescaleDB when installed unless ENVMON_TIMESCALEDB=off; nothing is compressed):
(a) COPY ceiling: binary COPY of `--ceiling-rows` rows straight into `readings`, one connection,
    with the CPU seconds its PostgreSQL backend used (from /proc), so rows/s per database core;
(b) write path: `--rows` rows through ingest's own `write_batch` (COPY into staging, merge,
    device state, in batches of `--batch-rows`), again with the backend's CPU seconds and the WAL
    it wrote;
(c) size: after VACUUM ANALYZE, heap, indexes and total of `readings`, in bytes per row
    (`--time-btree` adds the B-tree on time that TimescaleDB creates in every chunk);
(d) the demo district's (`--registry`) readings per device and per year at each device's own
    interval, and what they take on disk uncompressed at the measured bytes per row.

    python benchmarks/storage.py [--rows 1000000] [--ceiling-rows 1000000] [--devices 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# This folder holds ingest.py, which would shadow the `ingest` package: drop it from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import psycopg  # noqa: E402

from benchmarks.ingest import CODES, bench_registry  # noqa: E402
from envmon.columns import ReadingColumns, Row  # noqa: E402
from envmon.migrate import migrate  # noqa: E402
from envmon.registry.load import load_registry_file, parse_registry  # noqa: E402
from envmon.registry.store import store_registry  # noqa: E402
from envmon.stack import launcher  # noqa: E402
from ingest.rows import COLUMNS, COPY_TYPES  # noqa: E402
from ingest.writer import prepare, write_batch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECONDS_PER_YEAR = 365 * 86400
# What an HJ 212 data logger sends besides its real-time values (the simulator's, device_sim/summaries.py):
# one minute (CN 2051) and one hour (CN 2061) average per pollutant.
HJ212_SUMMARIES_PER_YEAR = SECONDS_PER_YEAR // 60 + SECONDS_PER_YEAR // 3600
SAMPLE_INTERVAL_SECONDS = 30
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# Column orders of the unique key worth comparing: the migrations' (one series' times together) and the device's
# readings of one instant together (each message's rows land side by side).
KEYS = ("device_id, pollutant, basis, time", "device_id, time, pollutant, basis")


@dataclass(frozen=True)
class Phase:
    """What one write phase cost: rows, wall seconds, the backend's CPU seconds and WAL bytes."""

    rows: int
    wall_seconds: float
    backend_cpu_seconds: float
    wal_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """The figures, with the derived rates."""
        return {
            "rows": self.rows,
            "rows_per_s": round(self.rows / self.wall_seconds),
            "backend_cpu_seconds": round(self.backend_cpu_seconds, 2),
            "rows_per_backend_cpu_second": round(self.rows / self.backend_cpu_seconds),
            "backend_cpu_share_of_a_core": round(self.backend_cpu_seconds / self.wall_seconds, 2),
            "wal_bytes_per_row": round(self.wal_bytes / self.rows, 1),
        }


def backend_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def wal_lsn(conn: psycopg.Connection) -> int:
    """The current WAL insert position in bytes."""
    row = conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0])


def sample_rows(device_ids: list[int], count: int, start: datetime) -> Iterator[Row]:
    """Readings as analysers send them: every device, ten pollutants, a sample every 30 s, varying values."""
    received = start
    for i in range(count):
        sample, code = divmod(i, len(CODES))
        step, device = divmod(sample, len(device_ids))
        at = start + timedelta(seconds=step * SAMPLE_INTERVAL_SECONDS)
        value = 0.05 + ((i * 2654435761) % 100_003) / 1000.0  # spread like real readings, not a constant
        yield Row(at, device_ids[device], CODES[code], "instant", value, "N", step + 1, received)


def measure(conn: psycopg.Connection, write: Any) -> Phase:
    """Run `write()` (returns the rows written) and account the backend's CPU time and WAL."""
    pid = conn.info.backend_pid
    cpu0, wal0, t0 = backend_cpu_seconds(pid), wal_lsn(conn), time.perf_counter()
    conn.commit()
    rows = write()
    wall = time.perf_counter() - t0
    phase = Phase(rows, wall, backend_cpu_seconds(pid) - cpu0, wal_lsn(conn) - wal0)
    conn.commit()
    return phase


def _live_start(day: int) -> datetime:
    """Where a phase's rows start: from now on, as live readings are (rows dated in the past are "late" rows
    for plain PostgreSQL's roll-up log, migration 0033), each phase on its own day so keys never collide."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=day)


def copy_ceiling(conn: psycopg.Connection, device_ids: list[int], rows: int, batch_rows: int) -> int:
    """Binary COPY straight into `readings`, one transaction per batch (as benchmarks.ingest.measure_ceiling)."""
    source = sample_rows(device_ids, rows, _live_start(0))
    for _ in range(0, rows, batch_rows):
        with conn.cursor() as cur, cur.copy(f"COPY readings ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(COPY_TYPES)
            for _, row in zip(range(batch_rows), source, strict=False):
                cp.write_row(row)
        conn.commit()
    return rows


def write_path(conn: psycopg.Connection, device_ids: list[int], rows: int, batch_rows: int) -> int:
    """Ingest's own transaction per batch: COPY into staging, merge into `readings`, device state."""
    prepare(conn)
    source = sample_rows(device_ids, rows, _live_start(1))
    written = 0
    while written < rows:
        batch = [row for _, row in zip(range(min(batch_rows, rows - written)), source, strict=False)]
        written += write_batch(conn, ReadingColumns.from_rows(batch), []).inserted
    return written


def table_size(conn: psycopg.Connection) -> dict[str, Any]:
    """Heap (with TOAST), index and total bytes of `readings`, its row count and each index's bytes, after VACUUM."""
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE readings")
    row = conn.execute(
        "SELECT pg_table_size('readings'), pg_indexes_size('readings'), pg_total_relation_size('readings'), "
        "(SELECT count(*) FROM readings)"
    ).fetchone()
    assert row is not None
    indexes = conn.execute(
        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
        "WHERE indrelid = 'readings'::regclass ORDER BY 1"
    ).fetchall()
    conn.autocommit = False
    return {"heap_bytes": row[0], "index_bytes": row[1], "total_bytes": row[2], "rows": row[3],
            "indexes": {name: size for name, size in indexes}}


def readings_per_year(pollutants: int, interval_seconds: int, transport: str) -> int:
    """Rows one device adds to `readings` in a year: real-time values, plus HJ 212 minute and hour means."""
    per_pollutant = SECONDS_PER_YEAR // interval_seconds
    if transport == "hj212":
        per_pollutant += HJ212_SUMMARIES_PER_YEAR
    return pollutants * per_pollutant


def district_volume(registry: Path, bytes_per_row: float) -> dict[str, Any]:
    """Readings and uncompressed bytes per year for each kind of device of a registry, and in total."""
    reg = load_registry_file(registry).file
    kinds: dict[str, dict[str, Any]] = {}
    for dev in reg.devices:
        k = kinds.setdefault(f"{dev.kind}/{dev.transport}/{dev.reporting_interval_seconds}s",
                             {"devices": 0, "pollutants": 0, "readings_per_year": 0})
        k["devices"] += 1
        k["pollutants"] += len(dev.pollutants)
        k["readings_per_year"] += readings_per_year(len(dev.pollutants), dev.reporting_interval_seconds, dev.transport)
    for k in kinds.values():
        k["readings_per_device_per_year"] = k["readings_per_year"] // k["devices"]
        k["gb_per_device_per_year"] = round(k["readings_per_device_per_year"] * bytes_per_row / 1e9, 2)
    total = sum(k["readings_per_year"] for k in kinds.values())
    return {
        "registry": str(registry.relative_to(ROOT) if registry.is_relative_to(ROOT) else registry),
        "plants": len(reg.sites),
        "devices": len(reg.devices),
        "by_kind": kinds,
        "readings_per_year": total,
        "readings_per_s": round(total / SECONDS_PER_YEAR),
        "gb_per_year_uncompressed": round(total * bytes_per_row / 1e9, 1),
    }


@contextmanager
def private_stack(prefix: str) -> Iterator[launcher.StackState]:
    """A durable stack of its own under a new folder in /tmp, stopped and removed afterwards."""
    state_dir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    state_dir.chmod(0o755)
    try:
        yield launcher.up(state_dir)
    finally:
        launcher.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark on a private stack."""
    with private_stack("envmon-storage-") as stack:
        flavour = migrate(stack.database_url, ROOT / "migrations").flavour_name
        with psycopg.connect(stack.database_url) as conn:
            store_registry(conn, parse_registry(bench_registry(args.devices), "bench"), actor="bench")
            conn.commit()
            device_ids = [r[0] for r in conn.execute("SELECT id FROM devices ORDER BY id").fetchall()]
            if args.key:  # another column order of the unique key (the rows' arrival order stays the same)
                conn.execute("DROP INDEX readings_key")
                conn.execute(f"CREATE UNIQUE INDEX readings_key ON readings ({args.key})")
                conn.commit()
            if args.time_btree:  # what create_hypertable adds to every chunk: a B-tree on time
                conn.execute("CREATE INDEX readings_time_btree ON readings (time DESC)")
                conn.commit()
            ceiling = measure(conn, lambda: copy_ceiling(conn, device_ids, args.ceiling_rows, args.batch_rows))
            conn.execute("TRUNCATE readings")
            conn.commit()
            path = measure(conn, lambda: write_path(conn, device_ids, args.rows, args.batch_rows))
            size = table_size(conn)
            server = conn.execute("SHOW server_version").fetchone()
        bytes_per_row = size["total_bytes"] / size["rows"]
        return {
            "copy_ceiling": ceiling.as_dict(),
            "write_path": path.as_dict(),
            "size": {**size, "bytes_per_row": round(bytes_per_row, 1),
                     "heap_bytes_per_row": round(size["heap_bytes"] / size["rows"], 1),
                     "index_bytes_per_row": round(size["index_bytes"] / size["rows"], 1)},
            "district": district_volume(args.registry, bytes_per_row),
            "postgresql": server[0] if server else None,
            "flavour": flavour,
            "time_btree": args.time_btree,
            "key": args.key or "device_id, pollutant, basis, time",
            "batch_rows": args.batch_rows,
            "devices": args.devices,
            "cpus": os.cpu_count(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows through the write path, then measured")
    parser.add_argument("--ceiling-rows", type=int, default=1_000_000, help="rows for the raw COPY ceiling")
    parser.add_argument("--batch-rows", type=int, default=20_000, help="rows per transaction (ingest: up to 20,000)")
    parser.add_argument("--devices", type=int, default=200, help="devices the rows are spread over")
    parser.add_argument("--time-btree", action="store_true",
                        help="add a B-tree on time, as TimescaleDB gives each chunk (plain PostgreSQL has a BRIN)")
    parser.add_argument("--key", choices=KEYS, default=None,
                        help="another column order for the unique key readings_key (default: the migrations')")
    parser.add_argument("--registry", type=Path, default=ROOT / "examples" / "fengxian.toml",
                        help="registry whose yearly volume is computed (default: the demo district)")
    print(json.dumps(run(parser.parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
