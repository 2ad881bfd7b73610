"""`python -m benchmarks.chaos` (the same as `envmon bench chaos`)."""

import sys

from benchmarks.chaos import main

sys.exit(main())
