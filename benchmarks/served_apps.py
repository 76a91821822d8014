"""What the servers run, and the memory benchmark too: the minimal app, bare or wrapped in ours.

Wrapped apps are built by factories that import the middleware only when
called, so that a bare server never loads it and the two processes' memory
can be compared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .fixtures import MIDDLEWARE_OPTIONS
from .minimal import ASGIApp, hello_asgi, hello_wsgi

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

bare_asgi = hello_asgi
bare_wsgi = hello_wsgi


def ours_asgi() -> ASGIApp:
    from logout_middleware.asgi import LogoutMiddleware  # noqa: PLC0415 - see the module docstring

    return LogoutMiddleware(hello_asgi, **MIDDLEWARE_OPTIONS)


def ours_wsgi() -> WSGIApplication:
    from logout_middleware.wsgi import LogoutMiddleware  # noqa: PLC0415 - see the module docstring

    return LogoutMiddleware(hello_wsgi, **MIDDLEWARE_OPTIONS)
