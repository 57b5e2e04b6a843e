"""``python -m skiff.adapters.aws_lambda.emulator``: the same as ``skiff-lambda-emulator``."""

import sys

from .host import main

sys.exit(main())
