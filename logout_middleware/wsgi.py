"""The WSGI front door: wraps any PEP 3333 application (Flask, Django, Pyramid, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from webob import Request

from .config import LogoutConfig
from .discovery import ProviderMetadata
from .handler import MAX_BODY, LogoutHandler, LogoutRequest
from .messages import Refusal
from .outbound import Inbound, Outbound, run_sync

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["LogoutMiddleware"]

_MAX_ANSWER = 1024 * 1024


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
        self.handler = LogoutHandler(self.config)
        # PEP 3333 carries PATH_INFO as UTF-8 bytes decoded as latin-1.
        self._paths = {path.encode().decode("latin-1"): path for path in self.handler.paths}
        self._guard = self.handler.guard

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # For a request that is not ours this is the whole cost: one .get() and
        # a membership test, with the guard read once at start-up.
        path_info = environ.get("PATH_INFO", "")
        if path_info not in self._paths:
            if self._guard is not None:
                return self._app_unless_revoked(environ, start_response)
            return self.app(environ, start_response)
        path = self._paths[path_info]
        request = Request(environ)
        logout_request = LogoutRequest(
            method=request.method,
            path=path,
            scheme=request.scheme,
            host=request.host,
            query_string=request.query_string,
            headers=request.headers,
            cookie=environ.get("HTTP_COOKIE", ""),
            root_path=request.script_name,
            body=_read_body(environ) if path in self.handler.body_paths else b"",
        )
        reply = run_sync(self.handler.handle(logout_request), _send)
        start_response(reply.status_line, reply.headers)
        return [reply.body]

    def _app_unless_revoked(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Call the app; for a revoked session, without its login cookies and with their deletion."""
        cookie_header = environ.get("HTTP_COOKIE")
        if not cookie_header:
            return self.app(environ, start_response)
        try:
            screened = self.handler.screen(cookie_header, environ.get("wsgi.url_scheme") == "https")
        except Refusal as refusal:
            start_response(refusal.reply.status_line, refusal.reply.headers)
            return [refusal.reply.body]
        if screened is None:
            return self.app(environ, start_response)
        environ["HTTP_COOKIE"], deletions = screened

        def start_response_deleting(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, *deletions], exc_info)

        return self.app(environ, start_response_deleting)

    def discover(self) -> ProviderMetadata | None:
        """Fetch the provider's discovery metadata now rather than on the first logout.

        :raises DiscoveryError: the provider did not answer, or not usably.
        """
        return run_sync(self.handler.provider_metadata(), _send)


def _read_body(environ: WSGIEnvironment) -> bytes:
    """At most MAX_BODY + 1 bytes of the body: enough for the core to tell "too large".

    PEP 3333: never read past CONTENT_LENGTH, and without it only from a
    server that says the input ends (``wsgi.input_terminated``); otherwise a
    client that sends nothing would hold the worker.
    """
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length < 0:
        if not environ.get("wsgi.input_terminated"):
            return b""
        length = MAX_BODY + 1
    body: bytes = environ["wsgi.input"].read(min(length, MAX_BODY + 1))
    return body


def _send(outbound: Outbound) -> Inbound:
    """Send one request to the provider with a blocking client; never raise."""
    import httpx  # noqa: PLC0415 - an optional extra, needed only with discovery or revocation

    try:
        with (
            httpx.Client(timeout=outbound.timeout) as client,
            client.stream(outbound.method, outbound.url, headers=outbound.headers, content=outbound.body) as answer,
        ):
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > _MAX_ANSWER:
                    return Inbound(answer.status_code, error="the answer is larger than 1 MiB")
            return Inbound(answer.status_code, body, content_type=answer.headers.get("content-type", ""))
    except httpx.HTTPError as exc:
        return Inbound(0, error=f"{type(exc).__name__} from {outbound.url}: {exc}")
