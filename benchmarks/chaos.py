"""Chaos benchmark: `python benchmarks/chaos.py --help` (the same as `envmon bench chaos`)."""

import sys
from pathlib import Path

# benchmarks/alerts.py would shadow the `alerts` package when this runs as a script: drop this folder.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from alerts.chaos.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
