"""The WSGI front door: wraps any PEP 3333 application (Flask, Django, Pyramid, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from webob import Request

from .config import LogoutConfig
from .handler import LogoutHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["LogoutMiddleware"]


class LogoutMiddleware:
    """Serve OpenID Connect logout at ``logout_path`` in front of a WSGI app.

    A request for ``logout_path`` (relative to ``SCRIPT_NAME``, so a mounted
    app works unchanged) with an allowed method never reaches the wrapped app:
    it gets a ``303`` to the provider's end-session endpoint, with the login
    cookies deleted.  Every other request goes straight to the app, untouched.

    .. warning:: The scheme decides whether deletions carry ``Secure``.
       Behind a proxy that ends TLS, put ``werkzeug.middleware.proxy_fix.ProxyFix``
       (or the framework's equivalent) outside this middleware.

    :param app: the WSGI application to wrap.
    :param config: a :class:`~logout_middleware.LogoutConfig`; keyword
        *options* build one, or change fields of *config* when both are given.

    .. code-block:: python

        from logout_middleware.wsgi import LogoutMiddleware

        app.wsgi_app = LogoutMiddleware(
            app.wsgi_app,
            end_session_endpoint="https://op.example/session/end",
            post_logout_redirect_uri="https://app.example/",
            client_id="my-app",
        )
    """

    def __init__(self, app: WSGIApplication, config: LogoutConfig | None = None, **options: Any) -> None:
        self.app = app
        self.config = LogoutConfig.from_options(config, **options)
        self.handler = LogoutHandler(self.config)
        # PEP 3333 carries PATH_INFO as UTF-8 bytes decoded as latin-1.
        self._path_info = self.config.logout_path.encode().decode("latin-1")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self._path_info:
            return self.app(environ, start_response)
        request = Request(environ)
        reply = self.handler.respond(
            method=request.method,
            scheme=request.scheme,
            host=request.host,
            query_string=request.query_string,
            headers=request.headers,
        )
        start_response(reply.status_line, reply.headers)
        return [reply.body]
