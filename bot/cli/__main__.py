"""`python -m bot.cli`: the same command line as the `incident-bot` script."""

import sys

from bot.cli import main

sys.exit(main())
