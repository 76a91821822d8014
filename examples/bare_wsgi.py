"""A plain WSGI callable, no framework, wrapped by the logout middleware.

Run from the repository root, then open http://127.0.0.1:8001/ ::

    gunicorn --chdir examples --bind 127.0.0.1:8001 bare_wsgi:app

The default LOGOUT_END_SESSION_ENDPOINT is the stand-in provider of
``python examples/demo.py`` (port 8000); point it, POST_LOGOUT_REDIRECT_URI
and CLIENT_ID at your real provider and app.
"""

import os
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from typing import Any

from logout_middleware import LogoutConfig
from logout_middleware.wsgi import LogoutMiddleware

# Only the shape of an id_token: header {"alg":"none"}, payload {"sub":"demo"}.
FAKE_ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIn0.c2ln"


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO")
    if path == "/login":
        start_response(
            "303 See Other",
            [
                ("Location", "/"),
                ("Set-Cookie", f"id_token={FAKE_ID_TOKEN}; Path=/; HttpOnly; SameSite=Lax"),
                ("Set-Cookie", "session=demo-session; Path=/; HttpOnly; SameSite=Lax"),
            ],
        )
        return [b""]
    if path != "/":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found\n"]
    present = "present" if "id_token" in SimpleCookie(environ.get("HTTP_COOKIE", "")) else "absent"
    body = f'<p>id_token cookie: {present}</p><p><a href="/login">Sign in</a> <a href="/logout">Log out</a></p>'
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body.encode()]


# One LogoutConfig, typed: plain lists are fine wherever the options take several values.
config = LogoutConfig(
    end_session_endpoint=os.environ.get("LOGOUT_END_SESSION_ENDPOINT", "http://127.0.0.1:8000/provider/session/end"),
    post_logout_redirect_uri=os.environ.get("POST_LOGOUT_REDIRECT_URI", "http://127.0.0.1:8001/"),
    client_id=os.environ.get("CLIENT_ID", "demo-client"),
    clear_cookies=["session"],  # the app's own login cookie must go as well
    methods=["GET", "POST"],
)
app = LogoutMiddleware(hello, config)
