"""The "shop" behind the gateway: a plain WSGI app that shows the Cookie header it received.

It knows nothing about logout: nginx asks the logout service before every
request, so a session the provider has logged out never reaches it.  Run
from the repository root::

    gunicorn --bind 127.0.0.1:8001 --chdir examples/gateway app_wsgi:app

With ``COOKIE_LOG=/some/file`` it also appends every Cookie header it
receives to that file, one per line, which is how the tests prove that a
revoked id_token never got through.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import IO, Any

NAME = "shop"


def _open_cookie_log() -> IO[str] | None:
    path = os.environ.get("COOKIE_LOG")
    # Line-buffered, so each header is on disk before the answer leaves.
    return open(path, "a", buffering=1) if path else None  # kept open for the life of the process


_log = _open_cookie_log()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    cookie = environ.get("HTTP_COOKIE", "")
    if _log is not None:
        _log.write(json.dumps(cookie) + "\n")
    body = json.dumps({"app": NAME, "path": environ.get("PATH_INFO", ""), "cookie": cookie}).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")],
    )
    return [body]
