"""The ingest benchmark: raw COPY ceiling vs the full MQTT pipeline, in one run, ledger-checked.

(a) ceiling: psycopg binary COPY of as many rows as the pipeline is offered into the empty
    `readings` table, no MQTT, one connection (`--ceiling-connections` for more), in
    transactions of 20,000 rows; the table is emptied again afterwards;
(b) pipeline: publisher processes -> Mosquitto -> ingest processes -> PostgreSQL, for
    `duration_seconds` at `target_readings_per_s`; every message carries (device, seq) and its
    publish time as sample time, so the ledger and publish-to-commit latency come from what was
    committed.
Both grow the table from empty to about the same size: COPY into a table of 10 M rows ran at two
thirds of its speed into an empty one here, so a ceiling measured on a small table understates the
ratio. Each phase starts from a CHECKPOINT, so neither pays for the other's WAL and dirty pages.
`cpu_percent` says where the time went during (b), per component, in percent of one core.
Prints one JSON object. Uses a private stack under a temporary folder.

    envmon bench ingest --help    (or: python -m benchmarks.ingest --help)
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on the path and this file would shadow the `ingest` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from envmon import topics  # noqa: E402
from envmon.migrate import migrate  # noqa: E402
from envmon.proccpu import CpuMeter, children_of  # noqa: E402
from envmon.protocols.mqtt_wire import publish_header, publish_packet  # noqa: E402
from envmon.protocols.wire_publisher import WirePublisher  # noqa: E402
from envmon.registry.load import parse_registry  # noqa: E402
from envmon.registry.store import store_registry  # noqa: E402
from envmon.settings import load_settings  # noqa: E402
from envmon.stack import launcher, mosquitto, postgres  # noqa: E402
from envmon.stack.launcher import StackState  # noqa: E402
from ingest.pipeline import StoredBatch  # noqa: E402
from ingest.rows import COLUMNS, COPY_TYPES  # noqa: E402
from ingest.service import IngestService  # noqa: E402

CODES = ["w20117", "w20116", "w20121", "w20122", "w20123", "w20115", "w01001", "w01018", "w00000", "w21003"]
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass(frozen=True)
class BenchConfig:
    devices: int = 1000
    duration_seconds: float = 60.0
    target_readings_per_s: int = 180_000
    publishers: int = 2
    ceiling_rows: int | None = None  # None: as many as the pipeline is offered
    workers: int = 1
    ceiling_connections: int = 1

    @property
    def offered_readings(self) -> int:
        return int(self.target_readings_per_s * self.duration_seconds)


def bench_registry(devices: int) -> str:
    """A registry of `devices` MQTT water analysers with ten pollutants each."""
    parts = [
        '[[districts]]\ncode = "b"\nname_zh = "基准"\nname_en = "Bench"\n',
        '[[sites]]\ncode = "B-1"\nname_zh = "基准厂"\nname_en = "Bench plant"\ndistrict = "b"\nindustry = "other"\n',
    ]
    for n in range(devices):
        parts.append(
            f'[[devices]]\nmn = "BENCH{n:05d}"\nsite = "B-1"\npoint_kind = "outfall"\npoint_name_zh = "排口"\n'
            f'point_name_en = "Outfall"\nkind = "water_analyser"\ntransport = "mqtt"\nsystem_code = "32"\n'
            f"pollutants = {json.dumps(CODES)}\nreporting_interval_seconds = 30\n"
        )
    return "\n".join(parts)


def _payload(device: str, seq: int, now: float) -> bytes:
    stamp = datetime.fromtimestamp(now, UTC).isoformat()
    values = ",".join(f'"{c}":{0.01 * (seq % 97) + i}' for i, c in enumerate(CODES))
    return f'{{"device":"{device}","seq":{seq},"time":"{stamp}","values":{{{values}}}}}'.encode()


class _Payloads:
    """`_payload` byte for byte, from pieces encoded once: a publisher must cost little CPU, since
    it shares the machine with what it measures."""

    def __init__(self, devices: list[str]) -> None:
        self.topics = [publish_header(topics.device_topic(d, topics.UP)) for d in devices]
        self._heads = [f'{{"device":"{d}","seq":'.encode() for d in devices]
        self._values = [
            ",".join(f'"{c}":{0.01 * (n % 97) + i}' for i, c in enumerate(CODES)).encode() for n in range(97)
        ]

    def payload(self, index: int, seq: int, stamp: bytes) -> bytes:
        return b"".join(
            (self._heads[index], str(seq).encode(), b',"time":"', stamp, b'","values":{', self._values[seq % 97], b"}}")
        )


def publish_worker(
    url: str, port: int, user: str, password: str, devices: list[str], rate_msgs: float, duration: float, result: Any
) -> None:
    """Publish round-robin over `devices` at `rate_msgs`: message k goes to device k mod n with
    seq k div n + 1, so (device, seq) is unique; each burst is stamped just before it is sent,
    and a burst never holds one device twice (its readings' key includes the time)."""
    pub = WirePublisher(port, user, password)
    pieces = _Payloads(devices)
    n = len(devices)
    start, sent = time.time(), 0
    while (now := time.time()) - start < duration:
        room = pub.window - (sent - pub.acked)
        burst = min(int((now - start) * rate_msgs) - sent, n, room)
        if burst <= 0:
            time.sleep(0.001)
            continue
        stamp = datetime.fromtimestamp(time.time(), UTC).isoformat().encode()
        packets = []
        for k in range(sent, sent + burst):
            index, seq = k % n, k // n + 1
            packets.append(publish_packet(pieces.topics[index], k % 65535 + 1, pieces.payload(index, seq, stamp)))
        pub.send(packets)
        sent += burst
    deadline = time.time() + 120
    while pub.acked < sent and time.time() < deadline:
        time.sleep(0.05)
    pub.close()
    result.put(
        {"sent": sent, "acked": pub.acked, "refused": pub.refused, "window": pub.window, "seconds": time.time() - start}
    )


# Latencies are counted per millisecond up to two minutes (slower ones in the last bin), per minute of commit:
# a 30-minute run keeps 30 histograms instead of 20 million floats in the ingest process it measures.
_HIST_MS = 120_000


class _Latency:
    """Batch subscriber: publish-to-commit latency of every message, and the commit timeline."""

    def __init__(self, counter: Any = None) -> None:
        self._counter = counter  # a multiprocessing.Value shared with the benchmark's main process
        self.by_minute: dict[int, np.ndarray] = {}  # minute of commit (epoch // 60) -> messages per latency ms
        self.readings_by_second: dict[int, int] = {}  # whole second of commit -> readings committed in it
        self.worst: dict[int, float] = {}  # whole second of commit -> the slowest message committed in it
        self.last_commit = 0.0
        self.readings = 0

    def on_batch(self, batch: StoredBatch) -> None:
        committed = batch.committed_at.timestamp()
        readings = batch.readings
        heads = readings.sample_starts()
        # One latency per sample: a redelivered sample in the same batch counts once.
        _, first = np.unique(
            readings.device_id[heads].astype(np.int64) << 32 | readings.seq[heads], return_index=True
        )
        latencies = committed - readings.time_us[heads][first] / 1e6
        second = int(committed)
        if latencies.size:
            hist = self.by_minute.setdefault(second // 60, np.zeros(_HIST_MS + 1, np.int64))
            np.add.at(hist, np.clip((latencies * 1000).astype(np.int64), 0, _HIST_MS), 1)
            self.worst[second] = max(self.worst.get(second, 0.0), float(latencies.max()))
        self.readings_by_second[second] = self.readings_by_second.get(second, 0) + len(readings)
        self.readings += len(readings)
        if self._counter is not None:
            with self._counter.get_lock():
                self._counter.value += len(readings)
        self.last_commit = committed

    def merge(self, other: dict[str, Any]) -> None:
        """Add another ingest process's figures (as `outcome()` gave them)."""
        for minute, hist in other["by_minute"].items():
            self.by_minute.setdefault(minute, np.zeros(_HIST_MS + 1, np.int64))
            self.by_minute[minute] += hist
        for second, count in other["readings_by_second"].items():
            self.readings_by_second[second] = self.readings_by_second.get(second, 0) + count
        for second, worst in other["worst"].items():
            self.worst[second] = max(self.worst.get(second, 0.0), worst)
        self.last_commit = max(self.last_commit, other["last_commit"])

    def outcome(self) -> dict[str, Any]:
        return {"by_minute": self.by_minute, "readings_by_second": self.readings_by_second, "worst": self.worst,
                "last_commit": self.last_commit}

    def percentile_ms(self, q: float, minutes: Any = None) -> float:
        """The q-quantile of latency in ms (to the millisecond above), over `minutes` (default: all)."""
        hists = [h for m, h in self.by_minute.items() if minutes is None or m in minutes]
        return histogram_percentile_ms(sum(hists, np.zeros(_HIST_MS + 1, np.int64)), q)


def histogram_percentile_ms(hist: np.ndarray, q: float) -> float:
    """The q-quantile of a per-millisecond histogram, as the upper edge of its bin (NaN when empty)."""
    total = int(hist.sum())
    if not total:
        return float("nan")
    return float(np.searchsorted(np.cumsum(hist), q * total, side="left") + 1)


def windows(
    latency: _Latency, started: float, publish_seconds: float, width_seconds: int = 300
) -> list[dict[str, Any]]:
    """Per whole `width_seconds` of publishing: readings committed per second and p99 publish-to-commit, so a
    long run shows whether ingest slows down as the table grows (issue 20: last 5 minutes >= 90 % of the first)."""
    out = []
    for j in range(int(publish_seconds // width_seconds)):
        lo, hi = started + j * width_seconds, started + (j + 1) * width_seconds
        committed = sum(c for s, c in latency.readings_by_second.items() if lo <= s < hi)
        minutes = {m for m in latency.by_minute if lo <= m * 60 + 30 < hi}
        out.append({"from_s": j * width_seconds, "readings_per_s": round(committed / width_seconds),
                    "p99_ms": latency.percentile_ms(0.99, minutes)})
    return out


@dataclass(frozen=True)
class Ceiling:
    """What raw COPY achieved: over all its rows, and over the first EMPTY_TABLE_ROWS of them."""

    rows_per_s: float
    empty_table_rows_per_s: float
    rows: int
    connections: int


# The ceiling's rate on a nearly empty table, as runs before 2026-12-04 measured it (2 M rows).
EMPTY_TABLE_ROWS = 2_000_000
_CEILING_BATCH_ROWS = 20_000


def measure_ceiling(url: str, rows: int, *, connections: int = 1, progress: Any = None) -> Ceiling:
    """Binary COPY of `rows` readings into `readings` (then emptied again), in transactions of 20,000
    rows grouped by device as ingest writes them, on `connections` connections at once.

    The table grows from empty to `rows` as it does during the pipeline run, and that matters: on this
    machine the same COPY took 263k rows/s into an empty table and 166k rows/s once it held 10 M rows.
    """
    # Dated from now on, a millisecond apart, as the pipeline's readings are: the same chunk on TimescaleDB (a
    # day per batch, as before 2026-12-05, made 540 small chunks with small indexes) and no "late" rows for
    # plain PostgreSQL's roll-up trigger (rows dated in the past were all logged as late).
    base = datetime.now(UTC)
    step = timedelta(milliseconds=_CEILING_BATCH_ROWS // 10)
    template = [
        (timedelta(milliseconds=i // 10), 1 + (i // 10) % 1000, CODES[i % 10], "instant", 1.0 + i % 7, "N",
         i // 10, base)
        for i in range(_CEILING_BATCH_ROWS)
    ]
    template.sort(key=lambda r: r[1])  # grouped by device, as ingest writes a batch (copy_binary.in_key_order)
    batches = rows // _CEILING_BATCH_ROWS
    done = {"batches": 0, "first_seconds": 0.0}
    lock = threading.Lock()
    _checkpoint(url)
    started = time.perf_counter()

    def copy_batches(first: int) -> None:
        with psycopg.connect(url) as conn:
            for b in range(first, batches, connections):
                shift = base + step * b  # every batch its own milliseconds: keys never repeat
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY readings ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp,
                ):
                    cp.set_types(COPY_TYPES)
                    for r in template:
                        cp.write_row((r[0] + shift, *r[1:]))
                conn.commit()
                with lock:
                    done["batches"] += 1
                    if done["batches"] * _CEILING_BATCH_ROWS == EMPTY_TABLE_ROWS:
                        done["first_seconds"] = time.perf_counter() - started

    workers = [threading.Thread(target=copy_batches, args=(c,)) for c in range(connections)]
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers):
        workers[0].join(5)
        if progress is not None and workers[0].is_alive():
            progress(f"  ceiling: {done['batches'] * _CEILING_BATCH_ROWS:>10,d} of {rows:,d} rows")
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE readings")
    _checkpoint(url)
    copied = batches * _CEILING_BATCH_ROWS
    first = EMPTY_TABLE_ROWS / done["first_seconds"] if done["first_seconds"] else copied / elapsed
    return Ceiling(copied / elapsed, first, copied, connections)


def _checkpoint(url: str) -> None:
    """Start from a clean checkpoint, so neither phase inherits the other's WAL and dirty pages (each
    then meets the checkpoint its own WAL triggers, as a running system does)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def _worst_by_10s(worst: dict[int, float], started: float) -> list[int]:
    """The slowest publish-to-commit latency in each 10 s of the run (ms): a steady tail or a few stalls."""
    if not worst:
        return []
    buckets: dict[int, float] = {}
    for second, value in worst.items():
        b = int((second - started) // 10)
        buckets[b] = max(buckets.get(b, 0.0), value)
    return [round(buckets.get(b, 0.0) * 1000) for b in range(max(0, min(buckets)), max(buckets) + 1)]


def _sustained(lat: _Latency, run: dict[str, Any]) -> dict[str, Any]:
    """For runs of ten minutes or more: the 5-minute windows, and the last one's rate against the first's."""
    publish_seconds = max(p["seconds"] for p in run["published"])
    if publish_seconds < 600:
        return {}
    spans = windows(lat, run["started"], publish_seconds)
    first, last = spans[0]["readings_per_s"], spans[-1]["readings_per_s"]
    return {
        "windows_5min": spans,
        "last_to_first_5min": round(last / first, 3) if first else None,
        "worst_window_p99_ms": max(w["p99_ms"] for w in spans),
    }


def _ingest_worker(
    settings_kw: dict[str, Any], index: int, workers: int, ready: Any, stop: Any, counter: Any, results: Any
) -> None:
    """One ingest process of the benchmark: the real IngestService plus a latency subscriber."""
    settings = load_settings(
        **settings_kw, ingest_client_id=f"envmon-ingest-bench-{index}", ingest_shared_subscription=workers > 1
    )
    service = IngestService(settings)
    latency = _Latency(counter)
    service.pipeline.subscribe(latency)
    service.start()
    service.wait_connected(10)
    ready.set()
    stop.wait()
    service.shutdown()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.put({**latency.outcome(), "peak_mb": peak_mb})


def run_pipeline(stack: StackState, cfg: BenchConfig, progress: Any) -> dict[str, Any]:
    """Publish for the configured time through the real broker into `cfg.workers` ingest processes."""
    ctx = mp.get_context("spawn")
    settings_kw = {
        "environment": "test",
        "database_url": stack.database_url,
        "state_dir": stack.state_dir,
        "mqtt_url": stack.mqtt_url_for(mosquitto.SERVICE_USER),
        "ingest_http_port": 0,
    }
    counter, stop, ingest_results = ctx.Value("q", 0), ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(cfg.workers)]
    ingesters = [
        ctx.Process(
            target=_ingest_worker, args=(settings_kw, i, cfg.workers, readies[i], stop, counter, ingest_results)
        )
        for i in range(cfg.workers)
    ]
    for proc in ingesters:
        proc.start()
    for ready in readies:
        ready.wait(60)
    time.sleep(1)  # subscriptions in place
    devices = [f"BENCH{n:05d}" for n in range(cfg.devices)]
    rate_msgs = cfg.target_readings_per_s / len(CODES) / cfg.publishers
    results: Any = ctx.Queue()
    publishers = [
        ctx.Process(
            target=publish_worker,
            args=(
                "",
                stack.mqtt_port,
                mosquitto.SIM_USER,
                stack.mqtt_users[mosquitto.SIM_USER],
                devices[i :: cfg.publishers],
                rate_msgs,
                cfg.duration_seconds,
                results,
            ),
        )
        for i in range(cfg.publishers)
    ]
    meter = _cpu_meter(stack, ingesters, publishers)
    started = time.time()
    for w in publishers:
        w.start()
    meter.start(time.time())
    _watch(counter, started, cfg.duration_seconds, progress)
    published = [results.get(timeout=300) for _ in publishers]
    cpu = meter.stop(time.time())
    for w in publishers:
        w.join()
    sent = sum(p["sent"] for p in published)
    deadline = time.time() + 180
    while counter.value < sent * len(CODES) and time.time() < deadline:
        time.sleep(0.2)
    stop.set()
    outcomes = [ingest_results.get(timeout=300) for _ in ingesters]
    for proc in ingesters:
        proc.join()
    latency = _Latency()
    for o in outcomes:
        latency.merge(o)
    peak_mb = max(o["peak_mb"] for o in outcomes)
    return {
        "published": published, "sent": sent, "latency": latency, "started": started, "peak_mb": peak_mb, "cpu": cpu
    }


def _cpu_meter(stack: StackState, ingesters: list[Any], publishers: list[Any]) -> CpuMeter:
    """Per component, while the publishers publish: where the machine's time goes."""
    postmaster = postgres.postmaster_pid(stack.cluster)
    broker = mosquitto.read_pid(stack.broker)
    return CpuMeter({
        "postgres": lambda: children_of(postmaster) if postmaster else [],
        "mosquitto": lambda: [broker] if broker else [],
        "ingest": lambda: [p.pid for p in ingesters],
        "publishers": lambda: [p.pid for p in publishers],
        "benchmark": lambda: [os.getpid()],
    })


def _watch(counter: Any, started: float, duration: float, progress: Any) -> None:
    while time.time() - started < duration:
        time.sleep(5)
        progress(f"{time.time() - started:5.0f} s  committed {counter.value:>10,d} readings")


def ledger(url: str, sent_per_publisher: list[int]) -> tuple[int, int, int]:
    """(stored readings, lost readings, duplicate readings) against what was published."""
    with psycopg.connect(url) as conn:
        stored, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (device_id, seq, pollutant)) FROM readings"
        ).fetchone()  # type: ignore[misc]
    expected = sum(sent_per_publisher) * len(CODES)
    return stored, max(0, expected - distinct), stored - distinct


def run_bench(cfg: BenchConfig, progress: Any = print) -> dict[str, Any]:
    """The whole benchmark on a private stack; returns the figures."""
    state_dir = Path(tempfile.mkdtemp(prefix="envmon-bench-", dir="/tmp"))
    state_dir.chmod(0o755)
    try:
        stack = launcher.up(state_dir)
        flavour = migrate(stack.database_url, MIGRATIONS).flavour_name
        with psycopg.connect(stack.database_url) as conn:
            store_registry(conn, parse_registry(bench_registry(cfg.devices), "bench"), actor="bench")
        rows = cfg.ceiling_rows or cfg.offered_readings
        progress(f"measuring the COPY ceiling: {rows:,d} rows on {cfg.ceiling_connections} connection(s) ...")
        ceiling = measure_ceiling(stack.database_url, rows, connections=cfg.ceiling_connections, progress=progress)
        progress(
            f"ceiling {ceiling.rows_per_s:,.0f} rows/s (first {EMPTY_TABLE_ROWS:,d} rows: "
            f"{ceiling.empty_table_rows_per_s:,.0f}); running the pipeline for {cfg.duration_seconds:.0f} s ..."
        )
        run = run_pipeline(stack, cfg, progress)
        progress(f"publishers: {run['published']}")
        stored, lost, dups = ledger(stack.database_url, [p["sent"] for p in run["published"]])
        lat: _Latency = run["latency"]
        span = (lat.last_commit - run["started"]) if lat.last_commit else float("nan")
        rate = stored / span if span else 0.0
        return {
            "flavour": flavour,
            "readings_per_s": round(rate),
            "ceiling_rows_per_s": round(ceiling.rows_per_s),
            "ratio": round(rate / ceiling.rows_per_s, 3),
            "lost": lost,
            "duplicates": dups,
            "p50_publish_to_commit_ms": lat.percentile_ms(0.50),
            "p99_publish_to_commit_ms": lat.percentile_ms(0.99),
            "seconds_with_a_message_over_1s": sum(1 for w in lat.worst.values() if w > 1.0),
            "worst_ms_by_10s": _worst_by_10s(lat.worst, run["started"]),
            **_sustained(lat, run),
            "peak_memory_mb": round(run["peak_mb"], 1),
            "cpu_percent": run["cpu"],
            "ceiling_rows": ceiling.rows,
            "ceiling_connections": ceiling.connections,
            "ceiling_empty_table_rows_per_s": round(ceiling.empty_table_rows_per_s),
            "ingest_workers": cfg.workers,
            "messages": run["sent"],
            "readings": stored,
            "readings_per_message": len(CODES),
            "target_readings_per_s": cfg.target_readings_per_s,
            "publish_seconds": round(max(p["seconds"] for p in run["published"]), 1),
            "drain_seconds": round(span, 1),
            "devices": cfg.devices,
            "publishers": cfg.publishers,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    finally:
        launcher.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def _progress_to_stderr(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """CLI entry for `envmon bench ingest` and `python -m benchmarks.ingest`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="envmon bench ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = BenchConfig()
    parser.add_argument("--duration-seconds", type=float, default=defaults.duration_seconds)
    parser.add_argument("--target-readings-per-s", type=int, default=defaults.target_readings_per_s,
                        help="offered load, in messages of ten readings")
    parser.add_argument("--devices", type=int, default=defaults.devices)
    parser.add_argument("--publishers", type=int, default=defaults.publishers)
    parser.add_argument("--ceiling-rows", type=int, default=None,
                        help="rows for the COPY ceiling (default: as many as the pipeline is offered)")
    parser.add_argument("--ceiling-connections", type=int, default=defaults.ceiling_connections,
                        help="connections copying at once for the ceiling")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="ingest processes (shared subscription when > 1)")
    args = parser.parse_args(argv)
    cfg = BenchConfig(
        args.devices,
        args.duration_seconds,
        args.target_readings_per_s,
        args.publishers,
        args.ceiling_rows,
        args.workers,
        args.ceiling_connections,
    )
    print(json.dumps(run_bench(cfg, _progress_to_stderr), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
