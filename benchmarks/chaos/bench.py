"""`envmon bench chaos` (also `python -m benchmarks.chaos`): the platform under random faults, judged by replay.

On a private stack (PostgreSQL with fsync, Mosquitto with its 30 s autosave): `envmon alerts` (the engine and
the SMS sender, texting a fake Twilio through the real client) and `envmon ingest` as their own processes,
and the simulator playing the `chaos` scenario on the MQTT devices of five example plants. A seeded driver
kills, terminates and stops them at random moments (see benchmarks.chaos.faults) and restarts them. Then the
faults stop, the devices keep reporting and answering resend requests until every reading they sent is
stored (or a bound passes), and `envmon replay` over the stored readings is the oracle for the alerts and
SMS the platform should have produced. One JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.chaos import oracle
from benchmarks.chaos.district import repeated_scenario, scenario_toml, subset_registry
from benchmarks.chaos.faults import ChaosTwilio, FaultDriver, schedule
from benchmarks.chaos.ledger import PROBE_SEQ, RecordingRunner, SentLedger, compare, stored_readings
from benchmarks.chaos.services import Service, service_env
from device_sim.runner import RunOptions
from envmon import topics
from envmon.migrate import FlavourName, migrate
from envmon.registry.service import apply_registry_file
from envmon.settings import Settings, load_settings
from envmon.stack import launcher, mosquitto
from envmon.stack.launcher import StackState
from envmon.stack.processes import free_port

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
PROBE_DEVICE, PROBE_POLLUTANT = "310120CH001S02", "s01001"
START_SECONDS = 90.0
POLL_SECONDS = 0.5
Progress = Callable[[str], None]


def wait_until(what: str, check: Callable[[], bool], timeout_seconds: float) -> bool:
    """Poll `check` (about `what`) until it holds; False when the bound passes."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(POLL_SECONDS)
    return check()


def log_says(service: Service, text: str) -> Callable[[], bool]:
    """A check: the service's log since its last start contains `text`."""
    return lambda: text in service.log_path.read_text(errors="replace").rsplit("===== start", 1)[-1]


class ChaosRun:
    """One run: the stack, the services, the simulator, the driver and the verdict."""

    def __init__(self, args: argparse.Namespace, progress: Progress) -> None:
        self.args = args
        self.progress = progress
        self.rng = random.Random(args.seed)
        self.dir = Path(tempfile.mkdtemp(prefix="envmon-chaos-", dir=args.work_dir))
        self.dir.chmod(0o755)
        self.registry_path = self.dir / "registry.toml"
        self.services: dict[str, Service] = {}
        self.flavour: FlavourName | None = None

    # ----- setting up ----------------------------------------------------------------------------

    def _prepare(self) -> tuple[StackState, Settings]:
        stack = launcher.up(self.dir / "stack")
        self.flavour = migrate(stack.database_url, MIGRATIONS).flavour_name
        settings = load_settings(
            environment="test", state_dir=stack.state_dir, database_url=stack.database_url,
            mqtt_url=stack.mqtt_url_for(mosquitto.SERVICE_USER), secret_key=stack.secret_key,
        )
        self.registry_path.write_text(subset_registry(), encoding="utf-8")
        apply_registry_file(settings, self.registry_path, actor="chaos")
        scenario = repeated_scenario(self.args.duration_seconds).model_copy(update={"duration_seconds": None})
        (self.dir / "scenario.toml").write_text(scenario_toml(scenario), encoding="utf-8")
        return stack, settings

    def _start_services(self, stack: StackState, twilio: ChaosTwilio) -> None:
        twilio_env = {
            "ENVMON_TWILIO_ACCOUNT_SID": twilio.account_sid, "ENVMON_TWILIO_AUTH_TOKEN": twilio.auth_token,
            "ENVMON_TWILIO_FROM_NUMBER": "+15005550006", "ENVMON_TWILIO_API_BASE_URL": twilio.base_url,
            # Reports are not judged here; their PDF rendering would take the CPU the faults need.
            "ENVMON_ALERTS_REPORTS": "false", "ENVMON_ALERTS_HTTP_PORT": str(free_port()),
        }
        self.services["alerts"] = Service("alerts", ["alerts"], service_env(stack.state_dir, twilio_env),
                                          self.dir / "alerts.log")
        self.services["ingest"] = Service(
            "ingest", ["ingest"], service_env(stack.state_dir, {"ENVMON_INGEST_HTTP_PORT": str(free_port())}),
            self.dir / "ingest.log")
        # The engine's bus session must exist before ingest publishes the first batch.
        self.services["alerts"].start()
        if not wait_until("alerts", log_says(self.services["alerts"], "alerts connected to"), START_SECONDS):
            raise RuntimeError(f"envmon alerts did not connect; see {self.services['alerts'].log_path}")
        self.services["ingest"].start()
        if not wait_until("ingest", log_says(self.services["ingest"], "subscribed to"), START_SECONDS):
            raise RuntimeError(f"envmon ingest did not subscribe; see {self.services['ingest'].log_path}")
        self._probe(stack)

    def _probe(self, stack: StackState) -> None:
        """A reading (seq 0, outside the ledger) that must be stored before the devices start: ingest's
        subscription is in place."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set(mosquitto.SIM_USER, stack.mqtt_users[mosquitto.SIM_USER])
        client.connect("127.0.0.1", stack.mqtt_port)
        client.loop_start()
        when = (datetime.now(UTC) - timedelta(seconds=60)).replace(microsecond=0)
        body = {"device": PROBE_DEVICE, "seq": PROBE_SEQ, "time": when.isoformat(), "values": {PROBE_POLLUTANT: 0.0}}
        client.publish(topics.device_topic(PROBE_DEVICE, topics.UP), json.dumps(body), qos=1).wait_for_publish(30)
        client.loop_stop()
        client.disconnect()
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            stored = wait_until("probe", lambda: conn.execute("SELECT 1 FROM readings WHERE seq = %s",
                                                         [PROBE_SEQ]).fetchone() is not None, START_SECONDS)
        if not stored:
            raise RuntimeError("the probe reading was not stored: ingest is not taking readings")

    # ----- the simulator -------------------------------------------------------------------------

    def _start_sim(self, settings: Settings) -> tuple[RecordingRunner, Callable[[], None], threading.Thread]:
        options = RunOptions(registry_path=self.registry_path, scenario=str(self.dir / "scenario.toml"),
                             seed=self.args.seed, speed=1.0, hj212=False)
        runner = RecordingRunner(settings, options)
        runner.ledger = SentLedger()
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()

        def run() -> None:
            loop.run_until_complete(runner.run(stop))

        def stop_sim() -> None:
            loop.call_soon_threadsafe(stop.set)

        thread = threading.Thread(target=run, name="chaos-sim", daemon=True)
        thread.start()
        return runner, stop_sim, thread

    # ----- the run -------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Set up, play, fault, settle, judge; the figures."""
        began = time.monotonic()
        stack: StackState | None = None
        try:
            stack, settings = self._prepare()
            twilio = ChaosTwilio()
            with twilio:
                self._start_services(stack, twilio)
                figures = self._play(stack, settings, twilio)
                for service in self.services.values():
                    service.stop()
            figures["run_seconds"] = round(time.monotonic() - began, 1)
            return {"flavour": self.flavour, **figures}
        finally:
            for service in self.services.values():
                service.stop()
            if stack is not None:
                launcher.down(stack.state_dir)
            if not self.args.keep:
                shutil.rmtree(self.dir, ignore_errors=True)

    def _play(self, stack: StackState, settings: Settings, twilio: ChaosTwilio) -> dict[str, Any]:
        args = self.args
        faults = schedule(self.rng, args.warmup_seconds, args.duration_seconds - args.quiet_seconds,
                          args.mean_gap_seconds)
        runner, stop_sim, sim_thread = self._start_sim(settings)
        started = time.monotonic()
        driver = FaultDriver(stack, self.services, twilio, self.rng)
        stop_driver = threading.Event()
        driver_thread = threading.Thread(target=driver.run, args=(faults, started, stop_driver), daemon=True)
        driver_thread.start()
        self.progress(f"chaos: {len(faults)} faults over {args.duration_seconds:.0f} s, seed {args.seed}, "
                      f"folder {self.dir}")
        while driver_thread.is_alive():
            driver_thread.join(10)
            self.progress(f"chaos: {len(driver.done)}/{len(faults)} faults, {runner.ledger.messages} messages sent")
        # Faults can run past their window (a sender fault waits for an SMS): the quiet time follows the last.
        quiet_until = max(started + args.duration_seconds, time.monotonic() + args.quiet_seconds)
        wait_until("the quiet time", lambda: time.monotonic() >= quiet_until, quiet_until - time.monotonic() + 1)
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            converged = wait_until("the ledger", lambda: not self._lost(conn, runner), args.ledger_wait_seconds)
            stop_sim()
            sim_thread.join(60)
            wait_until("the last messages", lambda: not self._lost(conn, runner), 15)
            ledger = compare(runner.ledger.snapshot(), stored_readings(conn))
            judged = self._judge(conn, twilio)
        return self._report(faults, driver, ledger, judged, converged, started)

    def _lost(self, conn: psycopg.Connection, runner: RecordingRunner) -> bool:
        return bool(runner.ledger.snapshot() - set(stored_readings(conn)))

    def _judge(self, conn: psycopg.Connection, twilio: ChaosTwilio) -> dict[str, Any]:
        csv_path = self.dir / "stored-readings.csv"
        exported = oracle.export_readings(conn, csv_path)
        lines = oracle.run_replay(self.registry_path, csv_path, service_env(self.dir / "stack", {}))
        expected_sms, severity_levels = oracle.replay_sms(lines), oracle.replay_severity_levels(lines)

        def sms() -> dict[str, Any]:
            rows = oracle.live_outbox(conn)
            return oracle.compare_sms(expected_sms, rows, oracle.sends_per_row(rows, twilio.messages),
                                      severity_levels)

        # The live engine works in real time: give it a bounded while to send what the replay sent.
        settled = wait_until("the SMS", lambda: sms()["missed_sms"] == 0 and not self._outbox_busy(conn),
                             self.args.settle_seconds)
        expected, live = oracle.replay_levels(lines), oracle.live_levels(conn)
        silent = oracle.silent_alerts(conn)
        return {
            "replayed_readings": exported,
            "alerts": {"expected": len(expected), "live": len(live), "missing": len(expected - live),
                       "extra": len(live - expected), "missing_examples": sorted(map(list, expected - live))[:10],
                       "extra_examples": sorted(map(list, live - expected))[:10]},
            # settled False with the outbox still busy: the run ended before a slow delivery, not a lost SMS.
            "sms": {**sms(), "settled": settled, "outbox_busy_at_end": self._outbox_busy(conn)},
            "silent_alerts": len(silent), "silent_examples": silent[:10],
        }

    @staticmethod
    def _outbox_busy(conn: psycopg.Connection) -> bool:
        row = conn.execute("SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')").fetchone()
        return row is not None and int(row[0]) > 0

    def _report(self, faults: list[Any], driver: FaultDriver, ledger: dict[str, Any], judged: dict[str, Any],
                converged: bool, started: float) -> dict[str, Any]:
        sms, alerts = judged["sms"], judged["alerts"]
        counts = driver.counts()
        target = (ledger["lost_readings"] == 0 and ledger["duplicate_readings"] == 0 and sms["missed_sms"] == 0
                  and judged["silent_alerts"] == 0 and sms["sms_sent_more_than_twice"] == 0
                  and alerts["missing"] == 0 and alerts["extra"] == 0 and min(counts.values()) >= 3)
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "seed": self.args.seed,
            "duration_seconds": self.args.duration_seconds, "faults": counts,
            "sender_faults_with_sms_in_flight": sum(1 for d in driver.done if d.get("sms_in_flight")),
            "service_starts": {n: s.starts for n, s in self.services.items()},
            "lost_readings": ledger["lost_readings"], "duplicate_readings": ledger["duplicate_readings"],
            "missed_sms": sms["missed_sms"], "silent_alerts": judged["silent_alerts"],
            "max_sends_of_one_sms": sms["max_sends_of_one_sms"], "alerts_missing": alerts["missing"],
            "alerts_extra": alerts["extra"], "target_met": target,
            "ledger": {**ledger, "converged_while_devices_ran": converged},
            "alerts": alerts, "sms": sms, "silent_examples": judged["silent_examples"],
            "replayed_readings": judged["replayed_readings"], "fault_log": driver.done,
            "play_seconds": round(time.monotonic() - started, 1),
        }


def build_parser() -> argparse.ArgumentParser:
    """Options of `envmon bench chaos`."""
    parser = argparse.ArgumentParser(prog="envmon bench chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration-seconds", type=float, default=600.0,
                        help="how long the scenario plays and faults happen (default 600)")
    parser.add_argument("--seed", type=int, default=None, help="the driver's and simulator's seed (default: random)")
    parser.add_argument("--mean-gap-seconds", type=float, default=12.0,
                        help="average time between faults; every kind happens at least 3 times anyway")
    parser.add_argument("--warmup-seconds", type=float, default=10.0, help="no faults before this")
    parser.add_argument("--quiet-seconds", type=float, default=40.0,
                        help="no faults in the scenario's last seconds (resends and alerts catch up)")
    parser.add_argument("--ledger-wait-seconds", type=float, default=180.0,
                        help="how long devices keep answering resend requests until every reading is stored")
    parser.add_argument("--settle-seconds", type=float, default=90.0,
                        help="how long the engine gets to send what the replay sends")
    parser.add_argument("--work-dir", default="/tmp", help="where the run's folder goes (default /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, CSV) afterwards")
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry for `python -m benchmarks.chaos` and `envmon bench chaos`; exit 1 when the target is missed."""
    args = build_parser().parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**31)
    figures = ChaosRun(args, lambda msg: print(msg, file=sys.stderr, flush=True)).run()
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0 if figures["target_met"] else 1
