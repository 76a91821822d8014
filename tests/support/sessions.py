"""Session cookies as the frameworks sign them: a request that arrives signed in without signing in first."""

from __future__ import annotations

import base64
import json
from typing import Any

import itsdangerous


def starlette_session(data: dict[str, Any], secret: str) -> str:
    """The value of the ``session`` cookie Starlette's SessionMiddleware sets for *data*, signed with *secret*."""
    return itsdangerous.TimestampSigner(secret).sign(base64.b64encode(json.dumps(data).encode())).decode()
