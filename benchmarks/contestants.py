"""The apps measured; the alternatives do the same logout as ours (the same URL, the same cookies deleted)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any
from urllib.parse import urlencode

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from webob import Request as WebObRequest
from webob import Response as WebObResponse
from webob.dec import wsgify

from logout_middleware import asgi, build_logout_url, wsgi
from tests.support.apps import echo_asgi, echo_wsgi
from tests.support.sessions import starlette_session

from .browser import END_SESSION, HOST, LOGIN_COOKIES, LOGOUT_PATH, REDIRECT_URI, STATE, VISITOR_COOKIES, Adapter, App
from .provider import SESSION_SECRET, Setup, open_filled

CLIENT_ID = "bench-client"
#: Ours with checks off: what every app gets without a receiver, forward-auth or enforce_revocations.
OPTIONS: dict[str, Any] = {"end_session_endpoint": END_SESSION, "post_logout_redirect_uri": REDIRECT_URI,
                           "client_id": CLIENT_ID, "clear_cookies": LOGIN_COOKIES[1:]}  # fmt: skip
OURS: dict[str, Callable[..., App]] = {"asgi": partial(asgi.LogoutMiddleware, **OPTIONS),
                                       "wsgi": partial(wsgi.LogoutMiddleware, **OPTIONS)}  # fmt: skip
_BODY = {"type": "http.response.body", "body": b"hello"}


async def hello_asgi(scope: Any, receive: Any, send: Any) -> None:
    """The cheapest ASGI app that still answers (a new start message each time: SessionMiddleware edits it)."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send(_BODY)


def hello_wsgi(environ: Any, start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


HELLO: dict[str, App] = {"asgi": hello_asgi, "wsgi": hello_wsgi}
#: The apps the behaviour checks wrap: they answer what Cookie header reached them.
ECHO: dict[str, App] = {"asgi": echo_asgi, "wsgi": echo_wsgi}
#: Ours around the minimal app, as uvicorn and gunicorn serve it.
SERVED_ASGI, SERVED_WSGI = OURS["asgi"](hello_asgi), OURS["wsgi"](hello_wsgi)


def function_asgi(app: App) -> App:
    """A do-nothing middleware as a closure, the cheapest wrapper there is."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)

    return wrapped


def function_wsgi(app: App) -> App:
    def wrapped(environ: Any, start_response: Any) -> Any:
        return app(environ, start_response)

    return wrapped


class ClassASGI:
    """A do-nothing middleware in the shape of a real one: the floor that any middleware class stands on."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class ClassWSGI:
    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


def in_session(id_token: str, secret: str = SESSION_SECRET) -> str:
    """The Cookie header of a browser whose sign-in kept *id_token* in SessionMiddleware's cookie, signed so."""
    return f"{VISITOR_COOKIES}; session={starlette_session({'id_token': id_token}, secret)}"


def _logout_url(id_token: str | None) -> str:
    params = {"post_logout_redirect_uri": REDIRECT_URI, "id_token_hint": id_token,
              "state": secrets.token_urlsafe(16), "client_id": CLIENT_ID}  # fmt: skip
    return END_SESSION + "?" + urlencode({name: value for name, value in params.items() if value})


class StarletteLogout(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.removeprefix(request.scope.get("root_path", "")) != LOGOUT_PATH:
            return await call_next(request)
        url = _logout_url(request.cookies.get("id_token"))
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        for name in LOGIN_COOKIES:
            response.delete_cookie(name, path="/", httponly=True, samesite="lax")
        return response


@wsgify.middleware
def webob_logout(request: WebObRequest, app: App) -> App | WebObResponse:
    """The logout as a WebOb ``@wsgify.middleware``, which builds a Request on every call."""
    if request.path_info != LOGOUT_PATH:
        return app
    response = WebObResponse(status=303, location=_logout_url(request.cookies.get("id_token")))
    response.cache_control = "no-store"
    for name in LOGIN_COOKIES:
        response.delete_cookie(name, path="/")
    return response


#: The pass-through contestants of each interface by key, each around an app.
WRAPPERS: dict[str, dict[str, Callable[[App], App]]] = {
    "asgi": {"bare": lambda app: app, "function": function_asgi, "class": ClassASGI,
             "trustedhost": partial(TrustedHostMiddleware, allowed_hosts=[HOST]), "ours": OURS["asgi"],
             "basehttp": StarletteLogout},
    "wsgi": {"bare": lambda app: app, "function": function_wsgi, "class": ClassWSGI, "ours": OURS["wsgi"],
             "wsgify": webob_logout},
}  # fmt: skip


def url_builder(key: str, id_token: str) -> Callable[[], str]:
    """How *key* builds the end-session URL: ours, ``urlencode``, or Authing's ``build_logout_url``."""
    if key == "ours":
        return partial(build_logout_url, END_SESSION, redirect_uri=REDIRECT_URI, id_token=id_token, state=STATE)
    if key == "urlencode":
        return lambda: END_SESSION + "?" + urlencode({"post_logout_redirect_uri": REDIRECT_URI,
                                                      "id_token_hint": id_token, "state": STATE})  # fmt: skip
    from authing import AuthenticationClient  # noqa: PLC0415 - it imports websockets, which only this needs

    # Authing's URL is app_host + "/oidc/session/end"; the client opens no connection to build it.
    client = AuthenticationClient(app_id="benchmark", app_host=END_SESSION.removesuffix("/oidc/session/end"))
    return partial(client.build_logout_url, REDIRECT_URI, id_token, STATE)


def stack(adapter: Adapter, kind: str, setup: Setup, store: str | None) -> Callable[[App], App]:
    """The contestant for *kind* around an app: ours checking against the *store* named, or the floor when None.

    Where the id_token is in a session (*kind* ``in-session`` or ``signed-cookie``), the stack has Starlette's
    SessionMiddleware, as FastAPI and Starlette apps keep their sign-ins: around ours, or inside it.
    """
    options: dict[str, Any] = {"issuer": setup.issuer, "client_id": setup.client_id, "enforce_revocations": True}
    if kind in ("in-session", "signed-cookie"):  # the session cookie is the framework's, not a login cookie of ours
        options |= {"clear_cookies": ()} | ({"session_secret": SESSION_SECRET} if kind == "signed-cookie" else {})

    def middleware(app: App) -> App:
        if store is None:
            return WRAPPERS[adapter.name]["class"](app)
        return OURS[adapter.name](app, revocation_store=open_filled(setup, store), **options)

    if kind == "in-session":
        return lambda app: SessionMiddleware(middleware(app), secret_key=SESSION_SECRET)
    if kind == "signed-cookie":
        return lambda app: middleware(SessionMiddleware(app, secret_key=SESSION_SECRET))
    return middleware
