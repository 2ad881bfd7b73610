"""Publish-to-SMS latency under ingest load: `envmon bench alerts` (also `python -m benchmarks.alerts`).

On a private stack: background publishers send `--load-readings-per-s` readings (messages of ten) from
1,000 analysers with no limits, while a probe publishes one H2S reading above the level-2 set point on a
different gas detector every `--probe-interval-seconds`. Each detector sits in its own plant, so no SMS
waits for grouping. The platform runs as `make demo` runs it: ingest and the alert engine in one process,
SMS through the real twilio client to a local fake Twilio. Latency is from the probe's publish to the
fake's receipt of the SMS request. The engine's evaluation rate on batches is measured too.

`--lane on|off|alternate` sets ingest's priority lane for life-safety devices (`ENVMON_INGEST_PRIORITY_LANE`,
ingest/lane.py); `alternate` runs `--rounds` pairs of phases, lane on then off, on one stack, each phase with
a fresh platform process and probe detectors of its own, and waits between phases until ingest has stored
everything published, so a phase does not inherit the previous one's backlog.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from alerts.notify.fake_twilio import FakeTwilio
from benchmarks.engine_rate import measure_engine_rate
from benchmarks.ingest import CODES, bench_registry, publish_worker
from envmon import topics
from envmon.migrate import migrate
from envmon.registry.load import parse_registry
from envmon.registry.store import store_registry
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
PROBE_PHONE = "+15005550001"
_PROBE_RE = re.compile(r"Probe (\d+)")
# The engine is ready once it has caught up from the database (alerts/catchup.py): after the first phase that is
# the previous phases' last minutes of readings, millions of them, which must not be timed as alarm latency.
READY_SECONDS = 900


def probe_registry(probes: int) -> str:
    """Gas detectors P-nnn, one per plant, with GB/T 50493 set points, and one safety officer to text."""
    parts = [
        f'[[recipients]]\ncode = "probe-officer"\nname = "Probe officer"\nphone = "{PROBE_PHONE}"\nlocale = "en"\n'
        'role = "safety_officer"\n',
        '[[escalation_chains]]\ncode = "probe-gas"\nname = "Probe gas"\ncategories = ["safety"]\n'
        'repeat_interval_seconds = 86400\nsteps = [{ delay_seconds = 0, recipients = ["probe-officer"] }]\n',
    ]
    for n in range(probes):
        parts.append(
            f'[[sites]]\ncode = "P-{n:03d}"\nname_zh = "探针厂{n:03d}"\nname_en = "Probe plant {n:03d}"\n'
            f'district = "b"\nindustry = "chemical"\n'
            f'[[devices]]\nmn = "PROBE{n:03d}"\nsite = "P-{n:03d}"\npoint_kind = "area"\n'
            f'point_name_zh = "探针{n:03d}"\n'
            f'point_name_en = "Probe {n:03d}"\nkind = "gas_detector"\ntransport = "mqtt"\nsystem_code = "52"\n'
            f'pollutants = ["s02001"]\nreporting_interval_seconds = 5\n'
            f'[[limits]]\nsite = "P-{n:03d}"\npollutant = "s02001"\npreset = "GBT50493-2019"\n'
        )
    return "\n".join(parts)


def _platform(settings_kw: dict[str, Any], ready: Any, stop: Any) -> None:
    """The process under test: ingest and the alert engine in one process (the embedded default)."""
    from alerts.service import AlertService
    from envmon.settings import load_settings
    from ingest.service import IngestService

    settings = load_settings(**settings_kw)
    alerts = AlertService(settings)
    ingest = IngestService(settings, subscribers=[alerts])
    alerts.start()
    ingest.start()
    ingest.wait_connected(15)
    alerts.ready.wait(READY_SECONDS)
    ready.set()
    stop.wait()
    ingest.shutdown()
    alerts.shutdown()


def _ingest_only(settings_kw: dict[str, Any], ready: Any, stop: Any) -> None:
    """`envmon ingest` for the split layout: it publishes committed batches on the broker."""
    from envmon.settings import load_settings
    from ingest.service import IngestService

    ingest = IngestService(load_settings(**{**settings_kw, "ingest_publish_batches": True}))
    ingest.start()
    ingest.wait_connected(15)
    ready.set()
    stop.wait()
    ingest.shutdown()


def _alerts_only(settings_kw: dict[str, Any], ready: Any, stop: Any) -> None:
    """`envmon alerts` for the split layout: the engine reads batches from the broker."""
    from alerts.service import AlertService
    from envmon.settings import load_settings

    alerts = AlertService(load_settings(**settings_kw), from_bus=True)
    alerts.start()
    alerts.ready.wait(READY_SECONDS)
    ready.set()
    stop.wait()
    alerts.shutdown()


def _probe_client(stack: StackState) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER])
    client.connect("127.0.0.1", stack.mqtt_port)
    client.loop_start()
    return client


def _probe_mn(n: int) -> str:
    return f"PROBE{n:03d}"


def _probe(client: mqtt.Client, n: int) -> float:
    device = _probe_mn(n)
    body = {"device": device, "seq": 1, "time": datetime.now(UTC).isoformat(), "values": {"s02001": 20.0}}
    sent_at = time.time()
    client.publish(topics.device_topic(device, topics.UP), json.dumps(body), qos=1)
    return sent_at


_STAGES = """
SELECT extract(epoch FROM r.received_at - r.time), extract(epoch FROM a.opened_at - r.received_at),
       extract(epoch FROM n.sent_at - a.opened_at)
FROM alerts a
JOIN devices d ON d.id = a.device_id
JOIN readings r ON r.device_id = a.device_id AND r.pollutant = a.pollutant AND r.time = a.first_breach_at
JOIN notifications n ON n.alert_id = a.id
WHERE d.mn = ANY(%s)
"""


def _stages(url: str, q: float, probes: range) -> dict[str, float]:
    """Where the time goes, from the rows' own times: device time -> ingest receipt -> alert open -> SMS sent
    (each stage's own percentile `q`, so they do not add up to the end-to-end one)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(_STAGES, ([_probe_mn(n) for n in probes],)).fetchall()
    names = ("publish_to_ingest_receipt", "receipt_to_alert_committed", "alert_to_sms_accepted")
    return {name: round(_percentile([float(r[i]) for r in rows], q) * 1000, 1) for i, name in enumerate(names)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _phases(args: argparse.Namespace) -> list[bool]:
    """The priority lane's setting in each phase."""
    if args.lane == "alternate":
        return [True, False] * args.rounds
    return [args.lane == "on"]


def run(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """The benchmark on a private stack; returns the figures."""
    state_dir = Path(tempfile.mkdtemp(prefix="envmon-bench-alerts-", dir="/tmp"))
    state_dir.chmod(0o755)
    ctx = mp.get_context("spawn")
    phases = _phases(args)
    try:
        stack = launcher.up(state_dir)
        flavour = migrate(stack.database_url, MIGRATIONS).flavour_name
        with psycopg.connect(stack.database_url) as conn:
            text = bench_registry(args.devices) + "\n" + probe_registry(args.probes * len(phases))
            store_registry(conn, parse_registry(text, "bench-alerts"), actor="bench")
        with FakeTwilio() as fake:
            settings_kw = {
                "environment": "test", "database_url": stack.database_url, "state_dir": stack.state_dir,
                "mqtt_url": stack.mqtt_url_for(mosquitto.SERVICE_USER), "ingest_http_port": 0,
                "alerts_http_port": 0, "ingest_publish_batches": False,
                "twilio_account_sid": fake.account_sid, "twilio_auth_token": fake.auth_token,
                "twilio_from_number": "+15005550006", "twilio_api_base_url": fake.base_url,
            }
            published = [0]  # readings the broker acknowledged so far, over every phase
            results = []
            for k, lane in enumerate(phases):
                progress(f"phase {k + 1} of {len(phases)}: priority lane {'on' if lane else 'off'}")
                kw = {**settings_kw, "ingest_priority_lane": lane}
                probes = range(k * args.probes, (k + 1) * args.probes)
                results.append({"lane": lane, **_phase(stack, fake, args, ctx, progress, kw, probes, published)})
        engine = measure_engine_rate(devices=1000, readings=1_000_000)
        if len(results) == 1:
            return {"flavour": flavour, **results[0], "engine": engine}
        return {"flavour": flavour, "phases": results, "engine": engine}
    finally:
        launcher.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def _phase(
    stack: StackState, fake: FakeTwilio, args: argparse.Namespace, ctx: Any, progress: Any,
    settings_kw: dict[str, Any], probes: range, published: list[int],
) -> dict[str, Any]:
    """One platform process (or two, split), one round of load and probes; waits until the load is stored."""
    stop = ctx.Event()
    targets = (_alerts_only, _ingest_only) if args.split else (_platform,)
    readies = [ctx.Event() for _ in targets]
    processes = [ctx.Process(target=target, args=(settings_kw, ready, stop))
                 for target, ready in zip(targets, readies, strict=True)]
    for process in processes:
        process.start()
    started = time.time()
    if not all(r.wait(READY_SECONDS + 60) for r in readies):
        raise RuntimeError("the platform did not start")
    ready_seconds = round(time.time() - started, 1)  # the engine's catch-up included
    load_before = os.getloadavg()[0]
    figures = _measure(stack, fake, args, ctx, progress, probes)
    figures["loadavg_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    figures["ready_seconds"] = ready_seconds
    published[0] += figures.pop("published_readings") + len(probes)
    figures["stages_p50_ms"] = _stages(stack.database_url, 0.5, probes)
    figures["stages_p99_ms"] = _stages(stack.database_url, 0.99, probes)
    figures["layout"] = "ingest and alerts as two processes (batches over the broker)" if args.split else \
        "ingest and alerts in one process (the demo's layout)"
    figures["drained_seconds"] = _drain(stack.database_url, published[0])
    stop.set()
    for process in processes:
        process.join(60)
    return figures


def _drain(url: str, expected: int, timeout_seconds: float = 180.0) -> float | None:
    """Seconds until every published reading is stored (None: not within the timeout): the next phase must
    not start behind this one's backlog."""
    started = time.time()
    with psycopg.connect(url, autocommit=True) as conn:
        while time.time() - started < timeout_seconds:
            row = conn.execute("SELECT count(*) FROM readings").fetchone()
            if row is not None and row[0] >= expected:
                return round(time.time() - started, 1)
            time.sleep(2)
    return None


def _measure(
    stack: StackState, fake: FakeTwilio, args: argparse.Namespace, ctx: Any, progress: Any, probes: range
) -> dict[str, Any]:
    devices = [f"BENCH{n:05d}" for n in range(args.devices)]
    results = ctx.Queue()
    rate_msgs = args.load_readings_per_s / len(CODES) / args.publishers
    duration = args.probes * args.probe_interval_seconds + 5
    publishers = [
        ctx.Process(target=publish_worker, args=("", stack.mqtt_port, mosquitto.SIM_USER,
                                                  stack.mqtt_users[mosquitto.SIM_USER], devices[i :: args.publishers],
                                                  rate_msgs, duration, results))
        for i in range(args.publishers)
    ]
    for p in publishers:
        p.start()
    time.sleep(3)  # the load is flowing
    client = _probe_client(stack)
    sent: dict[int, float] = {}
    for i, n in enumerate(probes):
        sent[n] = _probe(client, n)
        time.sleep(args.probe_interval_seconds)
        if i % 20 == 19:
            progress(f"{i + 1} probes sent, {len(fake.messages)} SMS received")
    published = [results.get(timeout=300) for _ in publishers]
    for p in publishers:
        p.join()
    deadline = time.time() + 30
    while len(_latencies(sent, fake)) < len(probes) and time.time() < deadline:
        time.sleep(0.2)
    client.loop_stop()
    client.disconnect()
    return _figures(sent, fake, published, duration, args)


def _figures(
    sent: dict[int, float], fake: FakeTwilio, published: list[dict[str, Any]], duration: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    latencies = _latencies(sent, fake)
    load = sum(p["acked"] for p in published) * len(CODES) / duration
    return {
        "p50_publish_to_sms_ms": round(_percentile(latencies, 0.5) * 1000, 1),
        "p99_publish_to_sms_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "max_publish_to_sms_ms": round(max(latencies, default=float("nan")) * 1000, 1),
        "probes": len(sent), "sms_matched": len(latencies),
        "published_readings": sum(p["acked"] for p in published) * len(CODES),
        "background_readings_per_s": round(load), "target_background_readings_per_s": args.load_readings_per_s,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _latencies(sent: dict[int, float], fake: FakeTwilio) -> list[float]:
    """Publish-to-SMS seconds of the probes in `sent` that have their SMS."""
    latencies = []
    for message in list(fake.messages):
        match = _PROBE_RE.search(message.body)
        if match and int(match[1]) in sent:
            latencies.append(message.time.timestamp() - sent[int(match[1])])
    return latencies


def main(argv: list[str] | None = None) -> int:
    """CLI entry for `python -m benchmarks.alerts` and `envmon bench alerts`."""
    parser = argparse.ArgumentParser(prog="envmon bench alerts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load-readings-per-s", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=1000, help="background analysers")
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--probes", type=int, default=100, help="gas alarms to time")
    parser.add_argument("--probe-interval-seconds", type=float, default=0.5)
    parser.add_argument("--lane", choices=("on", "off", "alternate"), default="on",
                        help="ingest's priority lane for life-safety devices (ENVMON_INGEST_PRIORITY_LANE); "
                             "alternate: --rounds pairs of phases, on then off")
    parser.add_argument("--rounds", type=int, default=1, help="pairs of phases with --lane alternate")
    parser.add_argument("--split", action="store_true",
                        help="run ingest and the alert engine as two processes (envmon ingest + envmon alerts)")
    args = parser.parse_args(argv)
    figures = run(args, lambda msg: print(msg, file=sys.stderr, flush=True))
    print(json.dumps(figures, indent=2))
    return 0



if __name__ == "__main__":
    sys.exit(main())
