"""``python -m skiff``: the ``skiff`` command (see :mod:`skiff.cli`)."""

import sys

from skiff.cli import main

sys.exit(main())
