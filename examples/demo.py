"""Click through a whole logout: sign in, log out, pass the provider, come back.

Run it from the repository root and open the URL it prints::

    python examples/demo.py            # DEMO_PORT=8080 for another port than 8000

One process plays both parts: a Starlette app wrapped by the logout
middleware, and a stand-in for the OpenID provider's end-session page at
/provider/session/end that shows what the middleware sent it.  The other
examples point at this stand-in by default, so keep the demo running on
port 8000 to try them too.
"""

from __future__ import annotations

import html
import os
from urllib.parse import urlencode, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from logout_middleware.asgi import LogoutMiddleware

PORT = int(os.environ.get("DEMO_PORT", "8000"))
BASE_URL = f"http://127.0.0.1:{PORT}"
# Only the shape of an id_token: header {"alg":"none"}, payload {"sub":"demo"}.
FAKE_ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIn0.c2ln"
SHOWN_PARAMETERS = ("post_logout_redirect_uri", "id_token_hint", "state", "client_id")


def page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1>{body}")


async def home(request: Request) -> HTMLResponse:
    present = "present" if "id_token" in request.cookies else "absent"
    body = f'<p>id_token cookie: {present}</p><p><a href="/login">Sign in</a> · <a href="/logout">Log out</a></p>'
    state = request.query_params.get("state")
    if state is not None:
        body += f"<p>Back from the provider with state <code>{html.escape(state)}</code>.</p>"
    return page("Demo app", body)


async def login(request: Request) -> RedirectResponse:
    # A real app gets here from the provider's login, with a real id_token.
    response = RedirectResponse("/", status_code=303)
    response.set_cookie("id_token", FAKE_ID_TOKEN, httponly=True, samesite="lax")
    response.set_cookie("session", "demo-session", httponly=True, samesite="lax")
    return response


def is_registered(uri: str) -> bool:
    # A provider only sends the browser to redirect URIs registered for the client;
    # this one accepts any page on this machine, so that every example works.
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") and not parts.fragment


async def provider_end_session(request: Request) -> HTMLResponse:
    params = request.query_params
    rows = ""
    for name in SHOWN_PARAMETERS:
        value = params.get(name)
        if name == "id_token_hint" and value and len(value) > 24:
            value = value[:24] + "…"
        shown = "<i>not sent</i>" if value is None else f"<code>{html.escape(value)}</code>"
        rows += f"<tr><th>{name}</th><td>{shown}</td></tr>"
    body = f"<p>The provider would end its session now. It received:</p><table>{rows}</table>"
    redirect_uri = params.get("post_logout_redirect_uri")
    state = params.get("state")
    if redirect_uri and is_registered(redirect_uri):
        target = redirect_uri
        if state is not None:
            target += ("&" if urlsplit(redirect_uri).query else "?") + urlencode({"state": state})
        body += f'<p><a href="{html.escape(target)}">Continue</a> back to the app.</p>'
    else:
        body += "<p>No registered post_logout_redirect_uri: a real provider would stop here.</p>"
    return page("Stand-in provider: signed out", body)


app = Starlette(
    routes=[
        Route("/", home),
        Route("/login", login),
        Route("/provider/session/end", provider_end_session),
    ],
    middleware=[
        Middleware(
            LogoutMiddleware,
            end_session_endpoint=f"{BASE_URL}/provider/session/end",
            post_logout_redirect_uri=f"{BASE_URL}/",
            client_id="demo-client",
            clear_cookies=["session"],
        )
    ],
)

if __name__ == "__main__":
    print(f"Open {BASE_URL}/ in a browser: sign in, then log out.", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=PORT)
