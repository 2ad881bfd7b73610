"""Alerts benchmark: `python benchmarks/alerts.py --help` (the same as `envmon bench alerts`)."""

import sys
from pathlib import Path

# This file's name shadows the `alerts` package when run as a script: drop its folder from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from alerts.bench_latency import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
