"""The Flask front door: logout served inside the app, with ``flask.session``.

A WSGI middleware around Flask sees only the signed session cookie; this
extension runs inside the app, so it reads the id_token from the session
Flask has already verified (whatever session interface the app uses), ends
that session at logout, and empties a revoked one on every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import flask
from werkzeug.wrappers import Response

from .config import LogoutConfig
from .core.values import LogoutRequest, Reply, Verdict
from .drivers.blocking import SyncDriver, read_body
from .specs.discovery import ProviderMetadata

__all__ = ["FlaskLogout"]

_EXTENSION = "logout_middleware"


class FlaskLogout:
    """Serve OpenID Connect logout at ``logout_path`` of a Flask app.

    ``GET /logout`` sends the id_token found in ``flask.session`` (Authlib's
    ``session["token"]["id_token"]`` and the other places of
    ``id_token_session_keys``) as ``id_token_hint``, clears the session
    (Flask deletes its cookie) and the other login cookies, and redirects to
    the provider.  With revocation checks on (``enforce_revocations=True``,
    or a back-channel receiver), every request whose session was signed out,
    here or at the provider, reaches the views with an empty session.

    Options come from the keyword arguments, over ``app.config["LOGOUT_MIDDLEWARE"]``
    (a dict of the same options).  Unless set, ``session_cookie`` is the app's
    ``SESSION_COOKIE_NAME`` and ``max_token_lifetime`` its
    ``PERMANENT_SESSION_LIFETIME``, so that a revocation lasts as long as a
    session can.

    :param app: the Flask app; or call :meth:`init_app` later.
    :param config: a :class:`~logout_middleware.LogoutConfig`; keyword
        *options* build one, or change fields of *config* when both are given.

    .. code-block:: python

        from logout_middleware.flask import FlaskLogout

        app = Flask(__name__)
        FlaskLogout(app, issuer="https://op.example", client_id="my-app",
                    post_logout_redirect_uri="https://app.example/")
    """

    def __init__(self, app: flask.Flask | None = None, config: LogoutConfig | None = None, **options: Any) -> None:
        self._config = config
        self._options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Register the logout paths and the per-request check with *app*."""
        options: dict[str, Any] = {**app.config.get("LOGOUT_MIDDLEWARE", {}), **self._options}
        if self._config is None:
            options.setdefault("session_cookie", app.config.get("SESSION_COOKIE_NAME", "session"))
            options.setdefault("max_token_lifetime", int(app.permanent_session_lifetime.total_seconds()))
        door = _Door(LogoutConfig.from_options(self._config, **options))
        app.extensions[_EXTENSION] = door
        app.before_request(door.before_request)
        app.after_request(door.after_request)

    @staticmethod
    def discover(app: flask.Flask) -> ProviderMetadata | None:
        """Fetch the provider's discovery metadata now rather than on the first logout.

        :raises DiscoveryError: the provider did not answer, or not usably.
        """
        door: _Door = app.extensions[_EXTENSION]
        return door.driver.discover()


class _Door:
    """The extension's state in one app."""

    def __init__(self, config: LogoutConfig) -> None:
        self.config = config
        self.driver = SyncDriver(config)
        self._endpoints = self.driver.core.endpoints
        self._checks = self.driver.core.checks_requests
        self._getter = config.id_token_getter

    def before_request(self) -> Response | None:
        request = flask.request
        if request.path in self._endpoints:
            return self._answer(request.path)
        if self._checks:
            return self._check()
        return None

    def after_request(self, response: Response) -> Response:
        verdict: Verdict | None = flask.g.pop("_logout_middleware_verdict", None)
        if verdict is not None:
            set_by_app = {value.partition("=")[0].strip() for value in response.headers.getlist("Set-Cookie")}
            for name, value in verdict.deletions_except(set_by_app):
                response.headers.add(name, value)
        return response

    def _answer(self, path: str) -> Response:
        request = flask.request
        environ = request.environ
        endpoint = self._endpoints[path]
        timeout = self.config.body_timeout
        reply = self.driver.answer(
            LogoutRequest(
                method=request.method,
                path=path,
                secure=request.scheme == "https",
                host=request.host,
                query_string=request.query_string.decode("latin-1"),
                headers=cast("Mapping[str, str]", request.headers),
                cookie=environ.get("HTTP_COOKIE", ""),
                root_path=request.root_path,
                body=read_body(environ, timeout, endpoint.max_body) if endpoint.reads_body else b"",
                session=self._session(),
                app_id_token=self._getter(environ) if self._getter is not None else None,
            )
        )
        if reply.clear_session:
            flask.session.clear()  # Flask deletes its cookie
        return _response(reply)

    def _check(self) -> Response | None:
        request = flask.request
        environ = request.environ
        cookie_header = environ.get("HTTP_COOKIE", "")
        app_id_token = self._getter(environ) if self._getter is not None else None
        if not cookie_header and app_id_token is None:
            return None
        verdict = self.driver.verdict(cookie_header, self._session(), app_id_token, secure=request.scheme == "https")
        if verdict is None:
            return None
        if verdict.reply is not None:
            return _response(verdict.reply)
        if verdict.clear_session:
            flask.session.clear()
        # The views see the request without the login cookies (Flask-Login's remember cookie among them).
        environ["HTTP_COOKIE"] = verdict.cookie_header
        request.__dict__.pop("cookies", None)
        flask.g._logout_middleware_verdict = verdict
        return None

    def _session(self) -> Any:
        # Touching the session marks it accessed, and Flask then adds "Vary: Cookie":
        # only when the browser sent a session cookie at all.
        if self.config.session_cookie not in flask.request.cookies:
            return None
        return flask.session._get_current_object()  # type: ignore[attr-defined]


def _response(reply: Reply) -> Response:
    response = flask.current_app.response_class(reply.body, status=reply.status)
    response.headers.clear()
    for name, value in reply.headers:
        response.headers.add(name, value)
    return response
