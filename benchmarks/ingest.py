"""Ingest benchmark: `python benchmarks/ingest.py --help` (the same as `envmon bench ingest`)."""

import sys
from pathlib import Path

# This file's name shadows the `ingest` package when run as a script: drop its folder from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from ingest.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
