"""`envmon bench sim` (or `python -m benchmarks.sim`): how fast one process generates readings (no network), as JSON.

bulk: load mode's generator, MQTT PUBLISH packets ready to send (the figure the target is about);
scenario: the per-device path of normal mode (signal, incidents, JSON) over the example district;
hj212: real-time frames with CRC for the district's data loggers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from device_sim.fastgen import LOAD_CODES, LoadBlock
from device_sim.hj212_frames import qn_of, realtime_frame
from device_sim.payloads import encode_sample
from device_sim.plans import build_plans
from device_sim.samples import DeviceStream
from device_sim.scenario import load_scenario
from envmon.protocols.mqtt_wire import publish_packet
from envmon.registry.load import load_registry_file

REGISTRY = Path(__file__).resolve().parent.parent / "examples" / "fengxian.toml"


def _timed(seconds: float, step: Callable[[], int]) -> float:
    """Readings per second of `step` (which returns how many readings it made) run for `seconds`."""
    made, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        made += step()
    return made / elapsed


def bulk_rate(devices: int, seconds: float) -> float:
    """Load mode's generator: values, JSON payloads and PUBLISH packets."""
    block = LoadBlock([f"BENCH{n:05d}" for n in range(devices)], LOAD_CODES)
    t = [time.time()]

    def step() -> int:
        t[0] += 1.0
        payloads = block.round(t[0])
        packets = [publish_packet(block.topics[i], i % 65535 + 1, p) for i, p in enumerate(payloads)]
        return len(packets) * block.readings_per_message

    return _timed(seconds, step)


def scenario_rate(seconds: float, encode: Callable[[Any], bytes]) -> float:
    """Normal mode's per-device path over the example district with the demo scenario."""
    registry = load_registry_file(REGISTRY)
    scenario = load_scenario("demo")
    start = datetime(2026, 11, 22, tzinfo=UTC).timestamp()
    streams = [DeviceStream(p, scenario.for_device(p.mn), start) for p in build_plans(registry, 0)]

    def step() -> int:
        made = 0
        for stream in streams:
            _, sample = stream.advance()
            if sample is not None:
                encode(sample)
                made += len(sample.values)
        return made

    return _timed(seconds, step)


def main(argv: list[str] | None = None) -> int:
    """Print one JSON object with `readings_per_s` (the bulk generator) and the other paths' rates."""
    parser = argparse.ArgumentParser(prog="envmon bench sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=2000, help="synthetic devices for the bulk figure")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement")
    args = parser.parse_args(argv)
    bulk = bulk_rate(args.devices, args.seconds)
    scenario = scenario_rate(args.seconds, encode_sample)
    hj212 = scenario_rate(args.seconds, lambda s: realtime_frame(s, st="32", pw="123456", qn=qn_of(0)))
    result = {
        "flavour": None,  # the simulator's generation rate involves no database
        "readings_per_s": round(bulk),
        "target_readings_per_s": 200_000,
        "devices": args.devices,
        "readings_per_message": len(LOAD_CODES),
        "scenario_mqtt_readings_per_s": round(scenario),
        "scenario_hj212_readings_per_s": round(hj212),
        "seconds_per_measurement": args.seconds,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
