"""The minimal apps every measurement starts from, and the floor: a wrapper that does nothing.

Nothing here imports a web framework, so a process that runs only these
shows the footprint of Python itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HELLO_START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
_HELLO_BODY = {"type": "http.response.body", "body": b"hello"}
_HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "5")]


async def hello_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """The cheapest ASGI app that still answers: two prebuilt messages."""
    await send(_HELLO_START)
    await send(_HELLO_BODY)


def hello_wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The cheapest WSGI app that still answers."""
    start_response("200 OK", _HELLO_HEADERS)
    return [b"hello"]


class PassThroughASGI:
    """The floor: one extra call, in the same shape as a class-based middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class PassThroughWSGI:
    """The floor: one extra call, in the same shape as a class-based middleware."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.app(environ, start_response)
