"""The Django front door: a middleware for ``settings.MIDDLEWARE``, configured in ``settings.py``.

A WSGI middleware around Django sees only the ``sessionid`` cookie and
cannot end the session row behind it; this one runs inside Django, after
``SessionMiddleware`` and ``AuthenticationMiddleware``, reads the id_token
from ``request.session`` and ends the session with
``django.contrib.auth.logout()`` (which flushes it and sends the
``user_logged_out`` signal).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from .config import LogoutConfig
from .core.handler import Endpoint
from .core.values import LogoutRequest, Reply, Verdict
from .drivers.blocking import SyncDriver, read_body

__all__ = ["LogoutMiddleware"]


class LogoutMiddleware:
    """Serve OpenID Connect logout at ``logout_path`` of a Django project.

    ``/logout`` sends the id_token found in ``request.session`` (by default
    mozilla-django-oidc's ``oidc_id_token``, among the other places of
    ``id_token_session_keys``) as ``id_token_hint``, logs the user out of
    Django (the session row is flushed), deletes the other login cookies
    and redirects to the provider.  With revocation checks on
    (``enforce_revocations=True``, or a back-channel receiver), a request
    whose session was signed out at the provider is logged out of Django
    before any view runs.

    The options are the dict ``settings.LOGOUT_MIDDLEWARE``.  Unless set
    there, ``session_cookie`` is ``SESSION_COOKIE_NAME`` and
    ``max_token_lifetime`` is ``SESSION_COOKIE_AGE``.

    .. code-block:: python

        MIDDLEWARE = [
            "django.contrib.sessions.middleware.SessionMiddleware",
            ...,
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "logout_middleware.django.LogoutMiddleware",
        ]
        LOGOUT_MIDDLEWARE = {"issuer": "https://op.example", "client_id": "my-app",
                             "post_logout_redirect_uri": "https://app.example/"}
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        _check_order(list(getattr(settings, "MIDDLEWARE", None) or ()))
        self.get_response = get_response
        options: dict[str, Any] = dict(getattr(settings, "LOGOUT_MIDDLEWARE", {}))
        options.setdefault("session_cookie", settings.SESSION_COOKIE_NAME)
        options.setdefault("max_token_lifetime", int(settings.SESSION_COOKIE_AGE))
        self.config = LogoutConfig.from_options(None, **options)
        self._driver = SyncDriver(self.config)
        self._endpoints = self._driver.core.endpoints
        self._checks = self._driver.core.checks_requests
        self._getter = self.config.id_token_getter

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = self._endpoints.get(request.path_info)
        if endpoint is not None:
            return self._answer(request, endpoint)
        verdict = self._check(request) if self._checks else None
        if verdict is not None and verdict.reply is not None:
            return _response(verdict.reply)
        response = self.get_response(request)
        if verdict is not None:
            for _, value in verdict.deletions_except(set(response.cookies)):
                _set_cookie(response, value)
        return response

    def _answer(self, request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
        meta = request.META
        reply = self._driver.answer(
            LogoutRequest(
                method=request.method or "GET",
                path=endpoint.path,
                secure=request.scheme == "https",
                host=meta.get("HTTP_HOST"),
                query_string=meta.get("QUERY_STRING", ""),
                headers=request.headers,
                cookie=meta.get("HTTP_COOKIE", ""),
                root_path=meta.get("SCRIPT_NAME", ""),
                body=_body(request, self.config.body_timeout, endpoint.max_body) if endpoint.reads_body else b"",
                session=self._session(request),
                app_id_token=self._getter(meta) if self._getter is not None else None,
            )
        )
        if reply.clear_session:
            _log_out(request)
        return _response(reply)

    def _check(self, request: HttpRequest) -> Verdict | None:
        meta = request.META
        cookie_header = meta.get("HTTP_COOKIE", "")
        app_id_token = self._getter(meta) if self._getter is not None else None
        if not cookie_header and app_id_token is None:
            return None
        verdict = self._driver.verdict(
            cookie_header, self._session(request), app_id_token, secure=request.scheme == "https"
        )
        if verdict is None or verdict.reply is not None:
            return verdict
        if verdict.clear_session:
            _log_out(request)
        # The views see the request without the login cookies.
        meta["HTTP_COOKIE"] = verdict.cookie_header
        kept = {pair.partition("=")[0].strip() for pair in verdict.cookie_header.split(";")}
        # The session cookie stays: SessionMiddleware deletes it in the browser once it sees the session emptied.
        for name in [name for name in request.COOKIES if name not in kept and name != self.config.session_cookie]:
            del request.COOKIES[name]
        return verdict

    def _session(self, request: HttpRequest) -> Any:
        if not hasattr(request, "session"):
            raise ImproperlyConfigured(
                "logout_middleware.django.LogoutMiddleware must come after"
                " django.contrib.sessions.middleware.SessionMiddleware in MIDDLEWARE"
            )
        # Loading the session costs a database or cache read: only for a browser that has one.
        if self.config.session_cookie not in request.COOKIES:
            return None
        return request.session


def _check_order(middleware: list[str]) -> None:
    """Raise at start-up unless the session middleware comes before this one."""
    ours = [index for index, path in enumerate(middleware) if path.startswith(__name__ + ".")]
    sessions = [index for index, path in enumerate(middleware) if path.endswith("SessionMiddleware")]
    if ours and not any(index < ours[0] for index in sessions):
        raise ImproperlyConfigured(
            f"{__name__}.LogoutMiddleware must come after"
            " django.contrib.sessions.middleware.SessionMiddleware (and AuthenticationMiddleware) in MIDDLEWARE"
        )


def _log_out(request: HttpRequest) -> None:
    """End the session: ``auth.logout()`` when django.contrib.auth is in use, else a flush."""
    if hasattr(request, "user"):
        from django.contrib.auth import logout  # noqa: PLC0415 - only with django.contrib.auth

        logout(request)
    else:
        request.session.flush()


def _body(request: HttpRequest, timeout: float, max_body: int) -> bytes | None:
    meta = request.META
    if "wsgi.input" in meta:
        return read_body(meta, timeout, max_body)
    body: bytes = request.body  # under ASGI, Django has read it already (up to DATA_UPLOAD_MAX_MEMORY_SIZE)
    return body[: max_body + 1]


def _response(reply: Reply) -> HttpResponse:
    response = HttpResponse(reply.body, status=reply.status)
    for name, value in reply.headers:
        if name.lower() == "set-cookie":
            _set_cookie(response, value)
        else:
            response[name] = value
    return response


def _set_cookie(response: HttpResponse, line: str) -> None:
    """Set a cookie from a ``Set-Cookie`` value: Django keeps cookies apart from its headers."""
    pair, *attributes = (part.strip() for part in line.split(";"))
    name, _, value = pair.partition("=")
    options: dict[str, Any] = {"httponly": False, "secure": False}
    for attribute in attributes:
        key, _, text = attribute.partition("=")
        key = key.lower()
        if key == "max-age":
            options["max_age"] = int(text)
        elif key in ("path", "domain", "samesite", "expires"):
            options[key] = text
        elif key in ("secure", "httponly"):
            options[key] = True
    response.set_cookie(name, value, **options)
