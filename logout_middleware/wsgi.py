"""The WSGI front door: wraps any PEP 3333 application (Flask, Django, Pyramid, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from webob import Request

from .config import LogoutConfig
from .core.values import LogoutRequest
from .drivers.blocking import SyncDriver, read_body
from .specs.discovery import ProviderMetadata
from .stores.opening import ProcessLocalStore

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["LogoutMiddleware"]


class LogoutMiddleware:
    """Serve OpenID Connect logout at ``logout_path`` in front of a WSGI app.

    A request for ``logout_path`` (relative to ``SCRIPT_NAME``, so a mounted
    app works unchanged) with an allowed method never reaches the wrapped app:
    it gets a ``303`` to the provider's end-session endpoint, with the login
    cookies deleted.  ``logout_callback_path``, when set, is answered too.
    Every other request goes straight to the app, untouched.

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
            issuer="https://op.example",
            client_id="my-app",
            post_logout_redirect_uri="https://app.example/",
        )
    """

    def __init__(self, app: WSGIApplication, /, config: LogoutConfig | None = None, **options: Any) -> None:
        self.app = app
        self.config = LogoutConfig.from_options(config, **options)
        self._driver = SyncDriver(self.config)
        #: The core: what the paths answer, and the per-request check.
        self.handler = self._driver.core
        # PEP 3333 carries PATH_INFO as UTF-8 bytes decoded as latin-1.
        self._endpoints = {path.encode().decode("latin-1"): point for path, point in self.handler.endpoints.items()}
        self._checks = self.handler.checks_requests
        self._getter = self.config.id_token_getter

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # For a request that is not ours this is the whole cost: one .get() and
        # a membership test, with the guard read once at start-up.
        path_info = environ.get("PATH_INFO", "")
        if path_info not in self._endpoints:
            if self._checks:
                return self._app_unless_revoked(environ, start_response)
            return self.app(environ, start_response)
        endpoint = self._endpoints[path_info]
        request = Request(environ)
        logout_request = LogoutRequest(
            method=request.method,
            path=endpoint.path,
            secure=request.scheme == "https",
            host=request.host,
            query_string=request.query_string,
            headers=request.headers,
            cookie=environ.get("HTTP_COOKIE", ""),
            root_path=request.script_name,
            body=read_body(environ, self.config.body_timeout, endpoint.max_body) if endpoint.reads_body else b"",
            app_id_token=self._getter(environ) if self._getter is not None else None,
        )
        reply = self._driver.answer(logout_request)
        start_response(reply.status_line, reply.headers)
        return [reply.body]

    def _app_unless_revoked(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Call the app; for a revoked session, without its login cookies and with their deletion."""
        cookie_header = environ.get("HTTP_COOKIE", "")
        app_id_token = self._getter(environ) if self._getter is not None else None
        if not cookie_header and app_id_token is None:
            return self.app(environ, start_response)
        verdict = self._driver.verdict(
            cookie_header, app_id_token=app_id_token, secure=environ.get("wsgi.url_scheme") == "https"
        )
        if verdict is None:
            return self.app(environ, start_response)
        if verdict.reply is not None:
            start_response(verdict.reply.status_line, verdict.reply.headers)
            return [verdict.reply.body]
        environ["HTTP_COOKIE"] = verdict.cookie_header

        def start_response_deleting(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            set_by_app = {value.partition("=")[0].strip() for name, value in headers if name.lower() == "set-cookie"}
            return start_response(status, [*headers, *verdict.deletions_except(set_by_app)], exc_info)

        return self.app(environ, start_response_deleting)

    @property
    def store(self) -> ProcessLocalStore | None:
        """The revocation store, opened by the process that first uses it; None when requests are not checked."""
        return self._driver.store

    def discover(self) -> ProviderMetadata | None:
        """Fetch the provider's discovery metadata now rather than on the first logout.

        :raises DiscoveryError: the provider did not answer, or not usably.
        """
        return self._driver.discover()
