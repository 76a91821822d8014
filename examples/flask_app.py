"""Flask, with the logout middleware wrapped around ``app.wsgi_app``.

Run from the repository root, then open http://127.0.0.1:8001/ ::

    gunicorn --chdir examples --bind 127.0.0.1:8001 flask_app:app

The default LOGOUT_END_SESSION_ENDPOINT is the stand-in provider of
``python examples/demo.py`` (port 8000); point it, POST_LOGOUT_REDIRECT_URI
and CLIENT_ID at your real provider and app.
"""

import os

from flask import Flask, redirect, request
from werkzeug.wrappers import Response

from logout_middleware.wsgi import LogoutMiddleware

# Only the shape of an id_token: header {"alg":"none"}, payload {"sub":"demo"}.
FAKE_ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIn0.c2ln"

app = Flask(__name__)


@app.get("/")
def home() -> str:
    present = "present" if "id_token" in request.cookies else "absent"
    return f'<p>id_token cookie: {present}</p><p><a href="/login">Sign in</a> <a href="/logout">Log out</a></p>'


@app.get("/login")
def login() -> Response:
    response = redirect("/")
    response.set_cookie("id_token", FAKE_ID_TOKEN, httponly=True, samesite="Lax")
    response.set_cookie("session", "demo-session", httponly=True, samesite="Lax")
    return response


app.wsgi_app = LogoutMiddleware(  # type: ignore[method-assign]
    app.wsgi_app,
    end_session_endpoint=os.environ.get("LOGOUT_END_SESSION_ENDPOINT", "http://127.0.0.1:8000/provider/session/end"),
    post_logout_redirect_uri=os.environ.get("POST_LOGOUT_REDIRECT_URI", "http://127.0.0.1:8001/"),
    client_id=os.environ.get("CLIENT_ID", "demo-client"),
    clear_cookies=["session"],  # the app's own login cookie must go as well
)
