"""The request a browser sends, and driving an app with it through ASGI or WSGI, no HTTP in between."""

from __future__ import annotations

import asyncio
import functools
import http.client
import io
import itertools
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

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
_HEADERS = (
    ("host", HOST),
    ("connection", "keep-alive"),
    ("sec-ch-ua", '"Chromium";v="130", "Google Chrome";v="130", "Not?A_Brand";v="99"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("upgrade-insecure-requests", "1"),
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-user", "?1"),
    ("sec-fetch-dest", "document"),
    ("referer", f"https://{HOST}/account"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("accept-language", "en-US,en;q=0.9"),
)

App = Callable[..., Any]
Request = dict[str, Any]
#: What pyperf times: run the contestant *loops* times, return the seconds it took.
TimeFunc = Callable[[int], float]

_BODY = {"type": "http.request", "body": b"", "more_body": False}
_loop = asyncio.new_event_loop()


def signed_in(id_token: str | None = None, session: str = OPAQUE_SESSION) -> str:
    """The Cookie header of a signed-in browser: the visitor's cookies and the login ones."""
    token = f"id_token={id_token}; " if id_token else ""
    return f"{VISITOR_COOKIES}; {token}session={session}"


def asgi_scope(path: str = APP_PATH, cookie: str | None = None, *, root_path: str = "") -> Request:
    """The scope uvicorn builds for a browser's GET; *path* is below *root_path*, where the app is mounted."""
    headers = [*_HEADERS, *([("cookie", cookie)] if cookie is not None else [])]
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "GET",
            "scheme": "https", "path": root_path + path, "raw_path": (root_path + path).encode(),
            "root_path": root_path, "query_string": b"", "client": ("203.0.113.7", 51234), "server": ("10.0.0.5", 8000),
            "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]}  # fmt: skip


def wsgi_environ(path: str = APP_PATH, cookie: str | None = None, *, root_path: str = "") -> Request:
    """The environ a WSGI server builds for the same request."""
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": root_path, "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "10.0.0.5", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "203.0.113.7", "wsgi.version": (1, 0), "wsgi.url_scheme": "https",
               "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
               "wsgi.multiprocess": True, "wsgi.run_once": False}  # fmt: skip
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in _HEADERS})
    return environ if cookie is None else {**environ, "HTTP_COOKIE": cookie}


def header_lines(cookie: str | None = None) -> list[str]:
    """The same headers as ``Name: value`` lines for a load generator, which sends Host and Connection itself."""
    lines = [f"{name.title()}: {value}" for name, value in _HEADERS if name not in ("host", "connection")]
    return [*lines, *([f"Cookie: {cookie}"] if cookie else [])]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name]


@dataclass(frozen=True)
class Case:
    """One in-process benchmark: its pyperf name, the check of its contestant, and what builds it to be timed."""

    name: str
    #: Raises MisbehavedError unless the contestant does what it is measured doing; run before its workers start.
    check: Callable[[], None]
    #: Builds the contestant (its keys fetched, its session seen) and returns its time function.
    prepare: Callable[[], TimeFunc]

    def time_func(self) -> TimeFunc:
        """pyperf's time function, prepared on its first call: only in the worker that times this case."""
        prepared = functools.cache(self.prepare)

        def time_func(loops: int) -> float:
            return prepared()(loops)

        return time_func


async def _receive() -> dict[str, Any]:
    return _BODY


async def _discard(message: Any) -> None:
    pass


def _no_write(data: bytes) -> None:
    pass


def _start_response(*args: Any) -> Callable[[bytes], None]:
    return _no_write


def run_asgi(app: App, scopes: Iterable[Request]) -> float:
    """Send each scope through *app*; the seconds it took."""

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


def answer_asgi(app: App, scope: Request) -> Answer:
    sent: list[dict[str, Any]] = []

    async def record(message: Any) -> None:
        sent.append(message)

    _loop.run_until_complete(app(scope.copy(), _receive, record))
    start = next(message for message in sent if message["type"] == "http.response.start")
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start.get("headers", [])]
    return Answer(start["status"], headers, b"".join(message.get("body", b"") for message in sent))


def answer_wsgi(app: App, environ: Request) -> Answer:
    started = []
    body = b"".join(app(environ.copy(), lambda status, headers, exc_info=None: started.append((status, headers))))
    return Answer(int(started[0][0].split()[0]), list(started[0][1]), body)


def answer_http(base_url: str, path: str, headers: dict[str, str]) -> Answer:
    """One GET of *path* from the server at *base_url*."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


@dataclass(frozen=True)
class Adapter:
    """One interface: how to build its request, send many, and answer one."""

    name: str
    request: Callable[..., Request]
    run: Callable[[App, Iterable[Request]], float]
    answer: Callable[[App, Request], Answer]

    def timer(self, app: App, request: Request) -> TimeFunc:
        """pyperf's time function for *app* answering *request* over and over."""
        return lambda loops: self.run(app, itertools.repeat(request, loops))

    def new_sessions_timer(self, build: Callable[[], App], requests: list[Request]) -> TimeFunc:
        """pyperf's time function for requests that each bring a session the middleware has not seen.

        Each instance answers each request once, then a new one built off the
        clock takes over: however many loops pyperf asks for, none is a cache hit.
        """

        def time_func(loops: int) -> float:
            elapsed = 0.0
            for start in range(0, loops, len(requests)):
                elapsed += self.run(build(), requests[: min(len(requests), loops - start)])
            return elapsed

        return time_func


ASGI = Adapter("asgi", asgi_scope, run_asgi, answer_asgi)
WSGI = Adapter("wsgi", wsgi_environ, run_wsgi, answer_wsgi)
