import sys

from envmon.cli import main

sys.exit(main())
