"""Report benchmark: `python benchmarks/report.py --help` (the same as `envmon bench report`)."""

import sys
from pathlib import Path

# benchmarks/alerts.py shadows the `alerts` package when this runs as a script: drop this folder from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from alerts.reports.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
