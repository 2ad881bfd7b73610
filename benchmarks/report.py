"""Report benchmark: `python benchmarks/report.py --help` (the same as `envmon bench report`)."""

import sys

from alerts.reports.bench import main

if __name__ == "__main__":
    sys.exit(main())
