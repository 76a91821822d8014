"""OpenID Connect logout done right, for any Python web app.

The core (this package's top level) needs no web framework; the adapters
live in :mod:`logout_middleware.wsgi` (WebOb) and :mod:`logout_middleware.asgi`
(Starlette).
"""

from __future__ import annotations

from .config import LogoutConfig
from .core.handler import LogoutHandler
from .core.values import Reply
from .errors import ConfigError, InvalidParameterError, InvalidTokenError, InvalidURLError, LogoutError
from .specs.end_session import build_logout_url
from .web.cookies import CookieSpec

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CookieSpec",
    "InvalidParameterError",
    "InvalidTokenError",
    "InvalidURLError",
    "LogoutConfig",
    "LogoutError",
    "LogoutHandler",
    "Reply",
    "build_logout_url",
]
