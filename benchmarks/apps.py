"""Our middleware and the alternatives it is measured against, plus what the servers import.

The alternatives do the same logout as ours (the same parameters in the URL,
the same cookies deleted) the way each framework's documentation writes
middleware, so that the comparison is about the machinery and not about
doing less work.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp
from webob import Request as WebObRequest
from webob import Response as WebObResponse
from webob.dec import wsgify

from logout_middleware import asgi, wsgi

from .fixtures import CLIENT_ID, COOKIES_TO_DELETE, END_SESSION_ENDPOINT, ID_TOKEN_COOKIE, LOGOUT_PATH, REDIRECT_URI
from .fixtures import MIDDLEWARE_OPTIONS as OPTIONS

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def ours_asgi_app(app: ASGIApp) -> ASGIApp:
    return asgi.LogoutMiddleware(app, **OPTIONS)


def ours_wsgi_app(app: WSGIApplication) -> WSGIApplication:
    return wsgi.LogoutMiddleware(app, **OPTIONS)


def logout_url(id_token: str | None) -> str:
    """The end-session URL built the usual way, with the parameters ours sends."""
    params = {
        "post_logout_redirect_uri": REDIRECT_URI,
        "id_token_hint": id_token,
        "state": secrets.token_urlsafe(16),
        "client_id": CLIENT_ID,
    }
    return END_SESSION_ENDPOINT + "?" + urlencode({name: value for name, value in params.items() if value})


class StarletteLogout(BaseHTTPMiddleware):
    """The logout as a Starlette ``BaseHTTPMiddleware``."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.removeprefix(request.scope.get("root_path", "")) != LOGOUT_PATH:
            return await call_next(request)
        response = RedirectResponse(
            logout_url(request.cookies.get(ID_TOKEN_COOKIE)), status_code=303, headers={"Cache-Control": "no-store"}
        )
        for name in COOKIES_TO_DELETE:
            response.delete_cookie(name, path="/", httponly=True, samesite="lax")
        return response


@wsgify.middleware
def webob_logout(request: WebObRequest, app: WSGIApplication) -> WSGIApplication | WebObResponse:
    """The logout as a WebOb ``@wsgify.middleware``, which builds a Request on every call."""
    if request.path_info != LOGOUT_PATH:
        return app
    response = WebObResponse(status=303, location=logout_url(request.cookies.get(ID_TOKEN_COOKIE)))
    response.cache_control = "no-store"
    for name in COOKIES_TO_DELETE:
        response.delete_cookie(name, path="/")
    return response
