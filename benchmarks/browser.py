"""The one request every benchmark makes, as a browser sends it, and the two interfaces that drive an app with it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from webob import Request as WebObRequest

from tests.support.transports import Raw, asgi_sender, wsgi_sender

HOST = "app.example.com"
APP_PATH = "/items/42"
LOGOUT_PATH = "/logout"
MOUNT = "/portal"
END_SESSION = "https://op.example.com/oidc/session/end"
REDIRECT_URI = "https://app.example.com/signed-out"
STATE = "k1Xq3V9bR2mT0wLz8NcYfA"
#: The cookies every signed-in request carries besides the app's session, and that a logout deletes.
LOGIN_COOKIES = ("id_token", "session")
#: What any visitor's browser sends, signed in or not: analytics, a preference, a CSRF token.
VISITOR_COOKIES = "_ga=GA1.2.1530718423.1700000000; theme=dark; csrftoken=4kT9mZ2qW7xR1vB8nC3yL6pD0sF5hJ2g"
OPAQUE_SESSION = "s%3AXb7pQ2mN9vK4wR1tY6uZ3aE8cD5fG0hJ"

# What Chrome sends when a link is followed on the same site, but the Cookie header.
BROWSER_HEADERS = (
    ("host", HOST), ("connection", "keep-alive"),
    ("sec-ch-ua", '"Chromium";v="130", "Google Chrome";v="130", "Not?A_Brand";v="99"'),
    ("sec-ch-ua-mobile", "?0"), ("sec-ch-ua-platform", '"Linux"'), ("upgrade-insecure-requests", "1"),
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
    ("sec-fetch-site", "same-origin"), ("sec-fetch-mode", "navigate"), ("sec-fetch-user", "?1"),
    ("sec-fetch-dest", "document"), ("referer", f"https://{HOST}/account"),
    ("accept-encoding", "gzip, deflate, br, zstd"), ("accept-language", "en-US,en;q=0.9"),
)  # fmt: skip

App = Callable[..., Any]
Request = dict[str, Any]


def signed_in(id_token: str) -> str:
    """The Cookie header of a signed-in browser: the visitor's cookies and the login ones."""
    return f"{VISITOR_COOKIES}; id_token={id_token}; session={OPAQUE_SESSION}"


def header_lines(cookie: str | None = None) -> list[str]:
    """The headers as ``Name: value`` lines for a load generator, which sends Host and Connection itself."""
    lines = [f"{name.title()}: {value}" for name, value in BROWSER_HEADERS if name not in ("host", "connection")]
    return [*lines, *([f"Cookie: {cookie}"] if cookie else [])]


def asgi_scope(path: str = APP_PATH, cookie: str | None = None, *, root_path: str = "") -> Request:
    """The scope uvicorn builds for a browser's GET; *path* is below *root_path*, where the app is mounted."""
    headers = [*BROWSER_HEADERS, *([("cookie", cookie)] if cookie is not None else [])]
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "GET",
            "scheme": "https", "path": root_path + path, "raw_path": (root_path + path).encode(),
            "root_path": root_path, "query_string": b"", "client": ("203.0.113.7", 51234), "server": ("10.0.0.5", 8000),
            "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]}  # fmt: skip


def wsgi_environ(path: str = APP_PATH, cookie: str | None = None, *, root_path: str = "") -> Request:
    """The environ a WSGI server builds for the same request (WebOb's, as the tests' WSGI sender makes it)."""
    headers = dict(BROWSER_HEADERS) | ({"cookie": cookie} if cookie is not None else {})
    extra: dict[str, Any] = {"SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.7", "wsgi.multiprocess": True}
    return WebObRequest.blank(path, extra, base_url=f"https://{HOST}{root_path}", headers=headers).environ


_loop = asyncio.new_event_loop()
_BODY = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> dict[str, Any]:
    return _BODY


async def _discard(message: Any) -> None:
    pass


def _start_response(*args: Any) -> None:
    pass


def run_asgi(app: App, scopes: Iterable[Request]) -> float:
    """Send each scope through *app*, what it sends discarded; the seconds it took."""

    async def drive() -> float:
        start = perf_counter()
        for scope in scopes:
            # A new scope per request, as servers hand out: SessionMiddleware and ours write into it.
            await app(scope.copy(), _receive, _discard)
        return perf_counter() - start

    return _loop.run_until_complete(drive())


def run_wsgi(app: App, environs: Iterable[Request]) -> float:
    start = perf_counter()
    for environ in environs:
        # A new environ too: ours rewrites HTTP_COOKIE for a revoked session.
        b"".join(app(environ.copy(), _start_response))
    return perf_counter() - start


@dataclass(frozen=True)
class Adapter:
    """One interface: how to build its request, send many, and answer one."""

    name: str
    request: Callable[..., Request]
    run: Callable[[App, Iterable[Request]], float]

    def answer(self, app: App, path: str = APP_PATH, cookie: str | None = None, *, root_path: str = "") -> Raw:
        """How *app* answers the browser's request once, through the tests' sender for this interface."""
        sender = wsgi_sender if self.name == "wsgi" else asgi_sender
        send = sender(app, host=HOST, scheme="https", root_path=root_path)
        return send("GET", root_path + path, {**dict(BROWSER_HEADERS), **({"cookie": cookie} if cookie else {})})


ASGI = Adapter("asgi", asgi_scope, run_asgi)
WSGI = Adapter("wsgi", wsgi_environ, run_wsgi)
