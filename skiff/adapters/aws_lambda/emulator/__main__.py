"""``python -m skiff.adapters.aws_lambda.emulator``: the same as ``skiff-lambda-emulator``."""

import sys

from .cli import main

sys.exit(main())
