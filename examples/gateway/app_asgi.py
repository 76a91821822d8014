"""The "wiki" behind the gateway: a plain ASGI app that shows the Cookie header it received.

It knows nothing about logout: nginx asks the logout service before every
request, so a session the provider has logged out never reaches it.  Run
from the repository root::

    uvicorn --port 8002 --app-dir examples/gateway app_asgi:app

With ``COOKIE_LOG=/some/file`` it also appends every Cookie header it
receives to that file, one per line, which is how the tests prove that a
revoked id_token never got through.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import IO, Any

NAME = "wiki"

Message = MutableMapping[str, Any]


def _open_cookie_log() -> IO[str] | None:
    path = os.environ.get("COOKIE_LOG")
    # Line-buffered, so each header is on disk before the answer leaves; one short
    # write to a local file, which does not hold the event loop up noticeably.
    return open(path, "a", buffering=1) if path else None  # kept open for the life of the process


_log = _open_cookie_log()


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return  # nothing to set up at start-up, and no websockets
    cookie = b"; ".join(value for name, value in scope["headers"] if name == b"cookie").decode("latin-1")
    if _log is not None:
        _log.write(json.dumps(cookie) + "\n")
    body = json.dumps({"app": NAME, "path": scope["path"], "cookie": cookie}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
