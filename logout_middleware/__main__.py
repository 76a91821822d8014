"""``python -m logout_middleware``: the ``logout-gateway`` command (see :mod:`logout_middleware.gateway`)."""

from __future__ import annotations

import sys

from .gateway import main

if __name__ == "__main__":
    sys.exit(main())
