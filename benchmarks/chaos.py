"""Chaos benchmark: `python benchmarks/chaos.py --help` (the same as `envmon bench chaos`)."""

import sys

from alerts.chaos.bench import main

if __name__ == "__main__":
    sys.exit(main())
