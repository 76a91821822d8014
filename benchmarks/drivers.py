"""Driving an app through its ASGI or WSGI interface, no HTTP in between: timed, or once to see its answer."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from tests.support.transports import Raw, asgi_sender, wsgi_sender

from .browser import APP_PATH, BROWSER_HEADERS, HOST, Request, asgi_scope, wsgi_environ

App = Callable[..., Any]
#: What pyperf times: run the contestant *loops* times, return the seconds it took.
TimeFunc = Callable[[int], float]

_BODY = {"type": "http.request", "body": b"", "more_body": False}
_loop = asyncio.new_event_loop()


async def _receive() -> dict[str, Any]:
    return _BODY


async def _discard(message: Any) -> None:
    pass


def _no_write(data: bytes) -> None:
    pass


def _start_response(*args: Any) -> Callable[[bytes], None]:
    return _no_write


def run_asgi(app: App, scopes: Iterable[Request], send: Callable[[Any], Awaitable[None]] = _discard) -> float:
    """Send each scope through *app*, what it sends to *send*; the seconds it took."""

    async def drive() -> float:
        start = perf_counter()
        for scope in scopes:
            # A new scope per request, as servers hand out: SessionMiddleware and ours write into it.
            await app(scope.copy(), _receive, send)
        return perf_counter() - start

    return _loop.run_until_complete(drive())


def run_wsgi(app: App, environs: Iterable[Request]) -> float:
    start = perf_counter()
    for environ in environs:
        # A new environ too: ours rewrites HTTP_COOKIE for a revoked session.
        b"".join(app(environ.copy(), _start_response))
    return perf_counter() - start


@dataclass(frozen=True)
class Adapter:
    """One interface: how to build its request, send many, and answer one."""

    name: str
    request: Callable[..., Request]
    run: Callable[[App, Iterable[Request]], float]

    def answer(self, app: App, path: str = APP_PATH, cookie: str | None = None, *, root_path: str = "") -> Raw:
        """How *app* answers the browser's request once, through the tests' sender for this interface."""
        sender = wsgi_sender if self.name == "wsgi" else asgi_sender
        send = sender(app, host=HOST, scheme="https", root_path=root_path)
        return send("GET", root_path + path, {**dict(BROWSER_HEADERS), **({"cookie": cookie} if cookie else {})})

    def timer(self, app: App, request: Request) -> TimeFunc:
        """pyperf's time function for *app* answering *request* over and over."""
        return lambda loops: self.run(app, itertools.repeat(request, loops))


ASGI = Adapter("asgi", asgi_scope, run_asgi)
WSGI = Adapter("wsgi", wsgi_environ, run_wsgi)
