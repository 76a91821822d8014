"""A plain ASGI callable, no framework, wrapped by the logout middleware.

Run from the repository root, then open http://127.0.0.1:8001/ ::

    uvicorn --app-dir examples --port 8001 bare_asgi:app

The default LOGOUT_END_SESSION_ENDPOINT is the stand-in provider of
``python examples/demo.py`` (port 8000); point it, POST_LOGOUT_REDIRECT_URI
and CLIENT_ID at your real provider and app.
"""

import os
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from logout_middleware.asgi import LogoutMiddleware

# Only the shape of an id_token: header {"alg":"none"}, payload {"sub":"demo"}.
FAKE_ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIn0.c2ln"


Message = MutableMapping[str, Any]


async def hello(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return  # nothing to set up at start-up, and no websockets
    if scope["path"] == "/login":
        status, body = 303, b""
        headers = [
            (b"location", b"/"),
            (b"set-cookie", f"id_token={FAKE_ID_TOKEN}; Path=/; HttpOnly; SameSite=Lax".encode()),
            (b"set-cookie", b"session=demo-session; Path=/; HttpOnly; SameSite=Lax"),
        ]
    elif scope["path"] == "/":
        # HTTP/2 may split the Cookie header into several.
        cookie = "; ".join(value.decode("latin-1") for name, value in scope["headers"] if name == b"cookie")
        present = "present" if "id_token" in SimpleCookie(cookie) else "absent"
        page = f'<p>id_token cookie: {present}</p><p><a href="/login">Sign in</a> <a href="/logout">Log out</a></p>'
        status, headers, body = 200, [(b"content-type", b"text/html; charset=utf-8")], page.encode()
    else:
        status, headers, body = 404, [(b"content-type", b"text/plain")], b"Not Found\n"
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = LogoutMiddleware(
    hello,
    end_session_endpoint=os.environ.get("LOGOUT_END_SESSION_ENDPOINT", "http://127.0.0.1:8000/provider/session/end"),
    post_logout_redirect_uri=os.environ.get("POST_LOGOUT_REDIRECT_URI", "http://127.0.0.1:8001/"),
    client_id=os.environ.get("CLIENT_ID", "demo-client"),
    clear_cookies=["session"],  # the app's own login cookie must go as well
)
