"""`envmon ingest`: receive readings over MQTT (and HJ 212 over TCP) and store them; registered by the top-level CLI."""

from __future__ import annotations

import argparse
from typing import Any

from envmon.commands import add_command
from envmon.settings import Settings


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    """receive readings over MQTT and store them

    Subscribe to every device's readings (MQTT v5, QoS 1, persistent session), store them in batches and acknowledge
    each message only after its batch is committed. Bad input is quarantined with a reason. Serves /metrics and
    /healthz (ENVMON_INGEST_HTTP_HOST/PORT).
    """
    from ingest.service import run_ingest
    from ingest.workers import run_workers

    given = (("ingest_client_id", args.client_id), ("ingest_http_port", args.http_port))
    overrides: dict[str, object] = {k: v for k, v in given if v is not None}
    if args.shared:
        overrides["ingest_shared_subscription"] = True
    if args.hj212:
        overrides["ingest_hj212"] = True
    if args.workers:
        overrides["ingest_workers"] = args.workers
    if overrides:
        settings = settings.model_copy(update=overrides)
    return run_workers(settings) if settings.ingest_workers > 1 else run_ingest(settings)


def add_ingest_parser(sub: Any) -> None:
    """Register `envmon ingest` on the top-level sub-parsers."""
    ingest = add_command(sub, "ingest", _ingest)
    ingest.add_argument("--client-id", help="stable MQTT client id (default: ENVMON_INGEST_CLIENT_ID)")
    ingest.add_argument("--shared", action="store_true", help="join the shared subscription $share/envmon-ingest")
    ingest.add_argument("--http-port", type=int, help="port of /metrics and /healthz (0: any free port)")
    ingest.add_argument(
        "--workers",
        type=int,
        help="run N ingest processes on the shared subscription $share/envmon-ingest (ENVMON_INGEST_WORKERS)",
    )
    ingest.add_argument("--hj212", action="store_true", help="also run the HJ 212 TCP gateway (ENVMON_HJ212_PORT)")
