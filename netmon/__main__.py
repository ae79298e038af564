"""`python -m netmon` is the `netmon` command."""

import sys

from netmon.cli import main

sys.exit(main())
