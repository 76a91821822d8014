"""The apps the fault tests serve with gunicorn and uvicorn: the echo apps behind the middleware,
configured from the environment the test gives the server.

``FAULT_ISSUER`` names the stand-in provider; ``FAULT_STORE`` the revocation
store (none: the default, an SQLite file below ``TMPDIR``);
``FAULT_BODY_TIMEOUT`` the back-channel body deadline.  The back-channel
receiver is at ``/bc``; every answer carries the worker's pid in ``X-Pid``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from logout_middleware.asgi import LogoutMiddleware as AsgiMiddleware
from logout_middleware.wsgi import LogoutMiddleware as WsgiMiddleware
from tests.support.apps import echo_asgi, echo_wsgi

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def _options() -> dict[str, Any]:
    options: dict[str, Any] = {
        "issuer": os.environ["FAULT_ISSUER"],
        "client_id": "rp",
        "backchannel_logout_path": "/bc",
        "clear_cookies": ["session"],
        "body_timeout": float(os.environ.get("FAULT_BODY_TIMEOUT", "10")),
    }
    if os.environ.get("FAULT_STORE"):
        options["revocation_store"] = os.environ["FAULT_STORE"]
    return options


def _with_pid(app: Any) -> Any:
    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("X-Pid", str(os.getpid()))], exc_info)

        return app(environ, start)

    return wsgi


wsgi_app = _with_pid(WsgiMiddleware(echo_wsgi, **_options()))
asgi_app = AsgiMiddleware(echo_asgi, **_options())
