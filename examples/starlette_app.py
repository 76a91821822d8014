"""Starlette, with the logout middleware in the app's ``middleware`` list.

Run from the repository root, then open http://127.0.0.1:8001/ ::

    uvicorn --app-dir examples --port 8001 starlette_app:app

The default LOGOUT_END_SESSION_ENDPOINT is the stand-in provider of
``python examples/demo.py`` (port 8000); point it, POST_LOGOUT_REDIRECT_URI
and CLIENT_ID at your real provider and app.
"""

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from logout_middleware.asgi import LogoutMiddleware

# Only the shape of an id_token: header {"alg":"none"}, payload {"sub":"demo"}.
FAKE_ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIn0.c2ln"


async def home(request: Request) -> HTMLResponse:
    present = "present" if "id_token" in request.cookies else "absent"
    return HTMLResponse(
        f'<p>id_token cookie: {present}</p><p><a href="/login">Sign in</a> <a href="/logout">Log out</a></p>'
    )


async def login(request: Request) -> RedirectResponse:
    response = RedirectResponse("/", status_code=303)
    response.set_cookie("id_token", FAKE_ID_TOKEN, httponly=True, samesite="lax")
    response.set_cookie("session", "demo-session", httponly=True, samesite="lax")
    return response


app = Starlette(
    routes=[Route("/", home), Route("/login", login)],
    middleware=[
        Middleware(
            LogoutMiddleware,
            end_session_endpoint=os.environ.get(
                "LOGOUT_END_SESSION_ENDPOINT", "http://127.0.0.1:8000/provider/session/end"
            ),
            post_logout_redirect_uri=os.environ.get("POST_LOGOUT_REDIRECT_URI", "http://127.0.0.1:8001/"),
            client_id=os.environ.get("CLIENT_ID", "demo-client"),
            clear_cookies=["session"],  # the app's own login cookie must go as well
        )
    ],
)
