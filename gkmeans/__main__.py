"""``python -m gkmeans``."""

import sys

from gkmeans.cli import main

sys.exit(main())
