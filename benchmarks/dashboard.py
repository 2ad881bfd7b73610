"""Dashboard benchmark: `python benchmarks/dashboard.py --help` (the same as `envmon bench dashboard`)."""

import sys
from pathlib import Path

# This file's folder comes first on sys.path and its name would shadow the dashboard package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from dashboard.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
