"""TimescaleDB compression of `readings`, measured on the simulator's signals; prints one JSON object.

On a private stack that must have TimescaleDB (`ENVMON_TIMESCALEDB=require` is set for it):
(a) history: `--days` of the example district's readings (every device at its own interval, the simulator's
    undisturbed signals: daily production cycle, drift and noise, rounded to the protocol's 4 decimals as
    devices send them), written by binary COPY into the hypertable (one-day chunks, migration 0002);
(b) size before: heap, indexes and total of every chunk, in bytes per reading, after VACUUM ANALYZE;
(c) compression: `compress_chunk` on each chunk, with wall seconds and the backend's CPU seconds, so
    readings compressed per CPU second;
(d) size after, from `hypertable_compression_stats` and `hypertable_detailed_size`, and the ratio;
(e) the cost of reading compressed data: one device-pollutant day, and a device's week as hourly means,
    best of 5, before and after compression.
`--segmentby/--orderby` try another layout than migration 0002's (the key columns must stay covered).

    envmon bench compression [--days 7] [--every-nth-device 1]   (or: python -m benchmarks.compression)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# This folder holds ingest.py, which would shadow the `ingest` package: drop it from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import psycopg  # noqa: E402

from benchmarks.simhistory import write_history  # noqa: E402
from benchmarks.storage import backend_cpu_seconds, private_stack  # noqa: E402
from device_sim.plans import build_plans  # noqa: E402
from envmon.migrate import migrate  # noqa: E402
from envmon.registry.load import load_registry_file  # noqa: E402
from envmon.registry.store import store_registry  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUERY_REPEATS = 5


def sizes(conn: psycopg.Connection) -> dict[str, int]:
    """Bytes of the hypertable (every chunk) by part, after VACUUM ANALYZE."""
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE readings")
    conn.autocommit = False
    row = conn.execute(
        "SELECT table_bytes, index_bytes, toast_bytes, total_bytes FROM hypertable_detailed_size('readings')"
    ).fetchone()
    assert row is not None
    return {"table_bytes": int(row[0] or 0), "index_bytes": int(row[1] or 0), "toast_bytes": int(row[2] or 0),
            "total_bytes": int(row[3] or 0)}


def per_reading(size: dict[str, int], readings: int) -> dict[str, float]:
    """The same sizes per reading."""
    return {k.replace("_bytes", "_bytes_per_reading"): round(v / readings, 1) for k, v in size.items()}


def compress_all(conn: psycopg.Connection) -> dict[str, Any]:
    """compress_chunk on every chunk: wall and backend CPU seconds."""
    chunks = [r[0] for r in conn.execute("SELECT c::text FROM show_chunks('readings') c ORDER BY 1").fetchall()]
    conn.commit()
    pid = conn.info.backend_pid
    cpu0, t0 = backend_cpu_seconds(pid), time.perf_counter()
    for chunk in chunks:
        conn.execute("SELECT compress_chunk(%s::regclass)", (chunk,))
        conn.commit()
    return {"chunks": len(chunks), "wall_seconds": round(time.perf_counter() - t0, 2),
            "backend_cpu_seconds": round(backend_cpu_seconds(pid) - cpu0, 2)}


def query_ms(conn: psycopg.Connection, device_id: int, pollutant: str, end: datetime) -> dict[str, float]:
    """Best of `QUERY_REPEATS` for a device-pollutant day of raw readings and its week as hourly means."""
    day = ("SELECT time, value FROM readings WHERE device_id = %s AND pollutant = %s AND basis = 'instant' "
           "AND time >= %s::timestamptz - INTERVAL '1 day' AND time < %s ORDER BY time")
    week = ("SELECT time_bucket(INTERVAL '1 hour', time) b, avg(value) FROM readings WHERE device_id = %s "
            "AND pollutant = %s AND basis = 'instant' AND time >= %s::timestamptz - INTERVAL '7 days' "
            "AND time < %s GROUP BY b ORDER BY b")
    out: dict[str, float] = {}
    for name, sql in (("device_day_raw_ms", day), ("device_week_hourly_ms", week)):
        best = float("inf")
        for _ in range(QUERY_REPEATS):
            t0 = time.perf_counter()
            conn.execute(sql, (device_id, pollutant, end, end)).fetchall()
            best = min(best, time.perf_counter() - t0)
        out[name] = round(best * 1000, 1)
    conn.commit()
    return out


def set_layout(conn: psycopg.Connection, segmentby: str | None, orderby: str | None) -> dict[str, str]:
    """Apply another compression layout if asked; returns the one in force."""
    if segmentby or orderby:
        parts = []
        if segmentby:
            parts.append(f"timescaledb.compress_segmentby = '{segmentby}'")
        if orderby:
            parts.append(f"timescaledb.compress_orderby = '{orderby}'")
        conn.execute(f"ALTER TABLE readings SET (timescaledb.compress, {', '.join(parts)})")
        conn.commit()
    rows = conn.execute(
        "SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc "
        "FROM timescaledb_information.compression_settings WHERE hypertable_name = 'readings'"
    ).fetchall()
    seg = [r[0] for r in sorted((r for r in rows if r[1]), key=lambda r: r[1])]
    order = [f"{r[0]}{'' if r[3] else ' DESC'}" for r in sorted((r for r in rows if r[2]), key=lambda r: r[2])]
    return {"segmentby": ", ".join(seg), "orderby": ", ".join(order)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark on a private stack with TimescaleDB."""
    os.environ["ENVMON_TIMESCALEDB"] = "require"
    with private_stack("envmon-compression-") as stack:
        flavour = migrate(stack.database_url, ROOT / "migrations").flavour_name
        registry = load_registry_file(args.registry)
        plans = build_plans(registry, args.seed)[:: args.every_nth_device]
        end_s = float(int(datetime(2026, 11, 30, tzinfo=UTC).timestamp()))
        start_s = end_s - args.days * 86400
        with psycopg.connect(stack.database_url) as conn:
            # No compression or retention job may run while we measure: both are done by hand here.
            conn.execute("SELECT remove_compression_policy('readings', if_exists => true)")
            store_registry(conn, registry, actor="bench")
            conn.commit()
            ids = {mn: i for mn, i in conn.execute("SELECT mn, id FROM devices").fetchall()}
            layout = set_layout(conn, args.segmentby, args.orderby)
            t0 = time.perf_counter()
            readings = write_history(conn, plans, ids, start_s, end_s)
            history_seconds = time.perf_counter() - t0
            probe = plans[0]
            end = datetime.fromtimestamp(end_s, UTC)
            before = sizes(conn)
            q_before = query_ms(conn, ids[probe.mn], probe.codes[0], end)
            cost = compress_all(conn)
            after = sizes(conn)
            q_after = query_ms(conn, ids[probe.mn], probe.codes[0], end)
            stats = conn.execute(
                "SELECT before_compression_total_bytes, after_compression_total_bytes "
                "FROM hypertable_compression_stats('readings')"
            ).fetchone()
            version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        assert stats is not None
        return {
            "flavour": flavour,
            "timescaledb": version[0] if version else None,
            "layout": layout,
            "days": args.days,
            "devices": len(plans),
            "readings": readings,
            "history_write_seconds": round(history_seconds, 1),
            "before": {**before, **per_reading(before, readings)},
            "after": {**after, **per_reading(after, readings)},
            "compression_stats": {"before_total_bytes": stats[0], "after_total_bytes": stats[1]},
            "ratio_total": round(before["total_bytes"] / max(after["total_bytes"], 1), 2),
            "saved_percent": round(100 * (1 - after["total_bytes"] / before["total_bytes"]), 1),
            "compress": {**cost, "readings_per_backend_cpu_second":
                         round(readings / max(cost["backend_cpu_seconds"], 1e-9))},
            "queries_before": q_before,
            "queries_after": q_after,
            "cpus": os.cpu_count(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=7.0, help="days of history to write and compress")
    parser.add_argument("--every-nth-device", type=int, default=1,
                        help="take every n-th device of the district (a sample keeps each series' length)")
    parser.add_argument("--registry", type=Path, default=ROOT / "examples" / "fengxian.toml",
                        help="registry whose devices are simulated (default: the demo district)")
    parser.add_argument("--seed", type=int, default=1, help="the simulator's seed")
    parser.add_argument("--segmentby", default=None, help="another compress_segmentby (default: migration 0002's)")
    parser.add_argument("--orderby", default=None, help="another compress_orderby (default: migration 0002's)")
    args = parser.parse_args(argv)
    if args.days <= 0 or args.every_nth_device < 1:
        parser.error("--days must be positive and --every-nth-device at least 1")
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
