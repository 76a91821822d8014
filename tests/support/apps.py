"""The apps the tests wrap: they echo what reached them, so a test sees what the app saw."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from logout_middleware import CookieSpec, LogoutConfig
from logout_middleware.asgi import LogoutMiddleware as AsgiLogoutMiddleware
from logout_middleware.wsgi import LogoutMiddleware as WsgiLogoutMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from starlette.types import Receive, Scope
    from starlette.types import Send as AsgiSend

    from tests.support.transports import Send

#: Shaped as a compact JWS, which is all the logout needs of a hint; its content does not matter.
ID_TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhbGljZSIsInNpZCI6InMxIn0.c2lnbmF0dXJl"
ENDPOINT = "https://op.example/oidc/session/end?tenant=acme"
REDIRECT = "https://app.example/signed-out"
OTHER_REDIRECT = "https://app.example/goodbye?from=logout"

#: The configuration the shared behaviour table runs with, against every adapter and server.
CONFIG = LogoutConfig(
    end_session_endpoint=ENDPOINT,
    post_logout_redirect_uri=REDIRECT,
    allowed_redirect_uris=(OTHER_REDIRECT,),
    client_id="rp-1",
    clear_cookies=(
        "session",
        CookieSpec("__Host-csrf"),
        CookieSpec("sso", domain="example.test"),
        CookieSpec("api_token", path="/api"),
    ),
)


def echo_wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = f"app saw {environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')} cookie={environ.get('HTTP_COOKIE')}"
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-App", "echo")])
    return [body.encode("latin-1", "replace")]


async def echo_asgi(scope: Scope, receive: Receive, send: AsgiSend) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    cookie = dict(scope["headers"]).get(b"cookie", b"None").decode("latin-1")
    body = f"app saw {scope['method']} {scope['path']} cookie={cookie}"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"echo")]})
    await send({"type": "http.response.body", "body": body.encode("utf-8", "replace")})


wsgi_app = WsgiLogoutMiddleware(echo_wsgi, CONFIG)
asgi_app = AsgiLogoutMiddleware(echo_asgi, CONFIG)


def shared_sender(kind: str) -> Send:
    """A sender for the shared app of the *kind* ("wsgi" or "asgi") adapter: the one the servers serve too."""
    from tests.support.transports import asgi_sender, wsgi_sender

    if kind == "wsgi":
        return wsgi_sender(wsgi_app)
    if kind == "asgi":
        return asgi_sender(asgi_app)
    raise ValueError(f"kind is 'wsgi' or 'asgi', not {kind!r}")
