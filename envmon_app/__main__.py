"""`python -m envmon_app`: the same as the `envmon` console script."""

import sys

from envmon_app.cli import main

sys.exit(main())
