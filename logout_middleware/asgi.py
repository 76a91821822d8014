"""The ASGI front door: wraps any ASGI 3 application (Starlette, FastAPI, Django, Litestar, ...)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .config import LogoutConfig
from .handler import LogoutHandler

__all__ = ["LogoutMiddleware"]


class LogoutMiddleware:
    """Serve OpenID Connect logout at ``logout_path`` in front of an ASGI app.

    A pure ASGI middleware: ``lifespan`` and ``websocket`` scopes, and every
    HTTP request for another path, go straight to the wrapped app with their
    bodies streamed as they come.  A request for ``logout_path`` (relative to
    ``root_path``, so mounted apps work) with an allowed method gets a ``303``
    to the provider's end-session endpoint with the login cookies deleted, and
    never reaches the app.

    .. warning:: The scheme decides whether deletions carry ``Secure``.
       Behind a proxy that ends TLS, run uvicorn with ``--proxy-headers``.

    :param app: the ASGI application to wrap.
    :param config: a :class:`~logout_middleware.LogoutConfig`; keyword
        *options* build one, or change fields of *config* when both are given.

    .. code-block:: python

        app.add_middleware(
            LogoutMiddleware,
            end_session_endpoint="https://op.example/session/end",
            post_logout_redirect_uri="https://app.example/",
            client_id="my-app",
        )
    """

    def __init__(self, app: ASGIApp, config: LogoutConfig | None = None, **options: Any) -> None:
        self.app = app
        self.config = LogoutConfig.from_options(config, **options)
        self.handler = LogoutHandler(self.config)
        self._path = self.config.logout_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The suffix test is the whole cost of a request that is not ours; the
        # exact, mount-aware check runs only when it passes.
        if scope["type"] != "http" or not scope["path"].endswith(self._path) or not self._is_logout_path(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        reply = self.handler.respond(
            method=scope["method"],
            scheme=scope.get("scheme", "http"),
            host=headers.get("host"),
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
        )
        raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": reply.body})

    def _is_logout_path(self, scope: Scope) -> bool:
        # Current servers put root_path inside path; older ones left it out.
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        return path == self._path
