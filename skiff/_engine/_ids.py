"""Run and state ids: random version-4 UUIDs as strings, made cheaply.

``str(uuid.uuid4())`` reads the OS's random source and builds a UUID object (2.6 us here);
a task run needs two ids, so that was a tenth of its overhead. These come from the
``random`` module's generator instead (0.6 us): run and state ids must be unique, not
secret. ``random`` reseeds itself in a forked child, and a SnapStart restore reseeds it
(:func:`skiff.adapters.aws_lambda._extension.after_restore`), so copies of one process
never repeat each other's ids.
"""

from __future__ import annotations

import random

__all__ = ["new_id"]

_bits = random.getrandbits
# The version (4) and variant (10xx) bits, as RFC 9562 places them in the 128.
_CLEAR = ~((0xF << 76) | (0x3 << 62))
_SET = (0x4 << 76) | (0x2 << 62)


def new_id() -> str:
    """A random UUID (version 4), in its canonical 36-character form."""
    h = "%032x" % ((_bits(128) & _CLEAR) | _SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
