"""`python -m night_pilot` runs the `cnp` command line."""

import sys

from .cli import main

sys.exit(main())
