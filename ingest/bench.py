"""The ingest benchmark: raw COPY ceiling vs the full MQTT pipeline, in one run, ledger-checked.

(a) ceiling: psycopg binary COPY of the same rows into `readings`, no MQTT, one connection;
(b) pipeline: publisher processes -> Mosquitto -> the ingest service (in this process) ->
    PostgreSQL, for `duration_seconds` at `target_readings_per_s`; every message carries
    (device, seq) and its publish time as sample time, so the ledger and publish-to-commit
    latency come from what was committed.
Prints one JSON object. Uses a private stack under a temporary folder.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from envmon import topics
from envmon.migrate import migrate
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from envmon.settings import load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from ingest.mqtt_wire import publish_header, publish_packet
from ingest.pipeline import StoredBatch
from ingest.rows import COLUMNS, COPY_TYPES
from ingest.service import IngestService
from ingest.wire_publisher import WirePublisher

CODES = ["w20117", "w20116", "w20121", "w20122", "w20123", "w20115", "w01001", "w01018", "w00000", "w21003"]
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass(frozen=True)
class BenchConfig:
    devices: int = 1000
    duration_seconds: float = 60.0
    target_readings_per_s: int = 120_000
    publishers: int = 2
    ceiling_rows: int = 2_000_000
    workers: int = 1


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


class _Latency:
    """Batch subscriber: publish-to-commit latency of every message, and the commit timeline."""

    def __init__(self, counter: Any = None) -> None:
        self._counter = counter  # a multiprocessing.Value shared with the benchmark's main process
        self.samples: list[float] = []
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
        self.samples.extend((committed - readings.time_us[heads][first] / 1e6).tolist())
        self.readings += len(readings)
        if self._counter is not None:
            with self._counter.get_lock():
                self._counter.value += len(readings)
        self.last_commit = committed


def measure_ceiling(url: str, rows: int) -> float:
    """Rows per second of binary COPY into `readings` (then emptied again)."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    batch = 20_000
    data = [
        (
            base + timedelta(seconds=i // 10),
            1 + (i // 10) % 1000,
            CODES[i % 10],
            "instant",
            1.0 + i % 7,
            "N",
            i // 10,
            base,
        )
        for i in range(batch)
    ]
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        for b in range(rows // batch):
            shift = timedelta(days=b + 1)
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY readings ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp,
            ):
                cp.set_types(COPY_TYPES)
                for r in data:
                    cp.write_row((r[0] + shift, *r[1:]))
            conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("TRUNCATE readings")
        conn.commit()
    return (rows // batch) * batch / elapsed


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


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
    results.put({"samples": latency.samples, "last_commit": latency.last_commit, "peak_mb": peak_mb})


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
    started = time.time()
    for w in publishers:
        w.start()
    _watch(counter, started, cfg.duration_seconds, progress)
    published = [results.get(timeout=300) for _ in publishers]
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
    latency.samples = [x for o in outcomes for x in o["samples"]]
    latency.last_commit = max(o["last_commit"] for o in outcomes)
    peak_mb = max(o["peak_mb"] for o in outcomes)
    return {"published": published, "sent": sent, "latency": latency, "started": started, "peak_mb": peak_mb}


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
        migrate(stack.database_url, MIGRATIONS)
        with psycopg.connect(stack.database_url) as conn:
            store_registry(conn, parse_registry(bench_registry(cfg.devices), "bench"), actor="bench")
        progress("measuring the COPY ceiling ...")
        ceiling = measure_ceiling(stack.database_url, cfg.ceiling_rows)
        progress(f"ceiling {ceiling:,.0f} rows/s; running the pipeline for {cfg.duration_seconds:.0f} s ...")
        run = run_pipeline(stack, cfg, progress)
        progress(f"publishers: {run['published']}")
        stored, lost, dups = ledger(stack.database_url, [p["sent"] for p in run["published"]])
        lat: _Latency = run["latency"]
        span = (lat.last_commit - run["started"]) if lat.last_commit else float("nan")
        rate = stored / span if span else 0.0
        return {
            "readings_per_s": round(rate),
            "ceiling_rows_per_s": round(ceiling),
            "ratio": round(rate / ceiling, 3),
            "lost": lost,
            "duplicates": dups,
            "p50_publish_to_commit_ms": round(_percentile(lat.samples, 0.50) * 1000, 1),
            "p99_publish_to_commit_ms": round(_percentile(lat.samples, 0.99) * 1000, 1),
            "peak_memory_mb": round(run["peak_mb"], 1),
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
    """CLI entry for benchmarks/ingest.py and `envmon bench ingest`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="envmon bench ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration-seconds", type=float, default=60.0)
    parser.add_argument("--target-readings-per-s", type=int, default=120_000)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--ceiling-rows", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=1, help="ingest processes (shared subscription when > 1)")
    args = parser.parse_args(argv)
    cfg = BenchConfig(
        args.devices,
        args.duration_seconds,
        args.target_readings_per_s,
        args.publishers,
        args.ceiling_rows,
        args.workers,
    )
    print(json.dumps(run_bench(cfg, _progress_to_stderr), indent=2))
    return 0
