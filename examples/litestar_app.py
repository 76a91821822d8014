"""Litestar, with the logout middleware wrapped around the whole ASGI app.

Run from the repository root, then open http://127.0.0.1:8001/ ::

    uvicorn --app-dir examples --port 8001 litestar_app:app

The default LOGOUT_END_SESSION_ENDPOINT is the stand-in provider of
``python examples/demo.py`` (port 8000); point it, POST_LOGOUT_REDIRECT_URI
and CLIENT_ID at your real provider and app.
"""

import os
from typing import Any

from litestar import Litestar, MediaType, Request, get
from litestar.datastructures import Cookie
from litestar.response import Redirect

from logout_middleware.asgi import LogoutMiddleware

# Only the shape of an id_token: header {"alg":"none"}, payload {"sub":"demo"}.
FAKE_ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIn0.c2ln"


@get("/", media_type=MediaType.HTML)
async def home(request: Request[Any, Any, Any]) -> str:
    present = "present" if "id_token" in request.cookies else "absent"
    return f'<p>id_token cookie: {present}</p><p><a href="/login">Sign in</a> <a href="/logout">Log out</a></p>'


@get("/login")
async def login() -> Redirect:
    return Redirect(
        "/",
        cookies=[
            Cookie(key="id_token", value=FAKE_ID_TOKEN, httponly=True, samesite="lax"),
            Cookie(key="session", value="demo-session", httponly=True, samesite="lax"),
        ],
    )


app = LogoutMiddleware(
    Litestar(route_handlers=[home, login]),
    end_session_endpoint=os.environ.get("LOGOUT_END_SESSION_ENDPOINT", "http://127.0.0.1:8000/provider/session/end"),
    post_logout_redirect_uri=os.environ.get("POST_LOGOUT_REDIRECT_URI", "http://127.0.0.1:8001/"),
    client_id=os.environ.get("CLIENT_ID", "demo-client"),
    clear_cookies=["session"],  # the app's own login cookie must go as well
)
