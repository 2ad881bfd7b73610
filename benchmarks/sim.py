"""Simulator benchmark: `python benchmarks/sim.py --help` (the same as `envmon bench sim`)."""

import sys
from pathlib import Path

# benchmarks/ingest.py would shadow the `ingest` package the simulator imports: drop this folder from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from device_sim.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
