"""The ASGI front door: wraps any ASGI 3 application (Starlette, FastAPI, Django, Litestar, ...)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from .config import LogoutConfig
from .core.handler import Endpoint
from .core.values import LogoutRequest, Reply, Verdict
from .drivers.asynchronous import AsyncDriver, read_body
from .errors import DiscoveryError
from .specs.discovery import ProviderMetadata
from .stores.opening import ProcessLocalStore

__all__ = ["LogoutMiddleware"]

#: Any ASGI 3 application: Starlette's type, Litestar's and Django's all fit it.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class LogoutMiddleware:
    """Serve OpenID Connect logout at ``logout_path`` in front of an ASGI app.

    A pure ASGI middleware: ``lifespan`` and ``websocket`` scopes, and every
    HTTP request for another path, go straight to the wrapped app with their
    bodies streamed as they come.  A request for ``logout_path`` (relative to
    ``root_path``, so mounted apps work) with an allowed method gets a ``303``
    to the provider's end-session endpoint with the login cookies deleted, and
    never reaches the app.  ``logout_callback_path``, when set, is answered too.

    Requests to the provider (discovery, token revocation) use httpx's async
    client, so they never block the event loop.

    .. warning:: The scheme decides whether deletions carry ``Secure``.
       Behind a proxy that ends TLS, run uvicorn with ``--proxy-headers``.

    :param app: the ASGI application to wrap.
    :param config: a :class:`~logout_middleware.LogoutConfig`; keyword
        *options* build one, or change fields of *config* when both are given.

    .. code-block:: python

        app.add_middleware(
            LogoutMiddleware,
            issuer="https://op.example",
            client_id="my-app",
            post_logout_redirect_uri="https://app.example/",
        )
    """

    def __init__(self, app: ASGIApp, /, config: LogoutConfig | None = None, **options: Any) -> None:
        self.app = app
        self.config = LogoutConfig.from_options(config, **options)
        self._driver = AsyncDriver(self.config)
        #: The core: what the paths answer, and the per-request check.
        self.handler = self._driver.core
        self._endpoints = self.handler.endpoints
        self._needle = _common_part(self._endpoints)
        self._checks = self.handler.checks_requests
        self._getter = self.config.id_token_getter
        self._inspect = self.handler.inspect
        self._inspect_cookies = self.handler.check.inspect  # the same, for apps without an id_token_getter
        self._settle = self._driver.settle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            # For a request that is not ours this is the whole cost: every path of
            # ours contains the needle, and `in` is an operator where a method call
            # such as str.endswith() costs more.  The exact, mount-aware check runs
            # only when it passes.
            if self._needle in scope["path"]:
                path, root_path = _relative_path(scope)
                endpoint = self._endpoints.get(path)
                if endpoint is not None:
                    await self._answer(scope, receive, send, endpoint, root_path)
                    return
            if self._checks:
                # A plain call, not a coroutine: a returning session is settled without one.
                verdict = self._verdict_now(scope)
                if verdict is None:
                    await self.app(scope, receive, send)
                else:
                    await self._app_with(verdict, scope, receive, send)
                return
        elif kind == "websocket" and self._checks:
            verdict = self._verdict_now(scope)
            if verdict is None:
                await self.app(scope, receive, send)
            else:
                await self._app_with(verdict, scope, receive, send)
            return
        elif kind == "lifespan":
            receive = self._lifespan(receive)
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, endpoint: Endpoint, root_path: str) -> None:
        """Answer a request for one of the middleware's own paths; the app never sees it."""
        headers = Headers(scope=scope)
        body = await read_body(receive, self.config.body_timeout, endpoint.max_body) if endpoint.reads_body else b""
        request = LogoutRequest(
            method=scope["method"],
            path=endpoint.path,
            secure=scope.get("scheme") == "https",
            host=headers.get("host"),
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            cookie=_cookie_header(scope),
            root_path=root_path,
            body=body,
            session=scope.get("session"),
            app_id_token=self._getter(scope) if self._getter is not None else None,
        )
        reply = await self._driver.answer(request)
        if reply.clear_session and request.session is not None:
            # Inside Starlette's SessionMiddleware: it sends the deleting Set-Cookie.
            request.session.clear()
        await _send_reply(send, reply)

    def _verdict_now(self, scope: Scope) -> Verdict | _Wait | None:
        """What the per-request check makes of the request, when it can say at once; None lets it through.

        ``_WAIT`` when it cannot: the provider's keys must be fetched first.
        """
        cookie_header = _cookie_header(scope)
        session = scope.get("session")
        if self._getter is None:
            if not cookie_header and session is None:
                return None
            inspection = self._inspect_cookies(cookie_header, session)
        else:
            inspection = self._inspect(cookie_header, session, self._getter(scope))
        if inspection.refs and not (inspection.untrusted or inspection.needs_keys):  # a known session: settle it
            return self._settle(inspection, cookie_header, scope.get("scheme") in ("https", "wss"))
        if inspection.needs_keys:
            return _WAIT
        if inspection.untrusted:
            return self._settle(inspection, cookie_header, scope.get("scheme") in ("https", "wss"))
        return None

    async def _app_with(self, decided: Verdict | _Wait, scope: Scope, receive: Receive, send: Send) -> None:
        """Call the app as *decided*: without a revoked session's login cookies and with their deletion.

        Covers WebSocket handshakes too: a socket opened with a revoked session's
        cookies would keep that session alive in an app that trusts them.
        """
        http = scope["type"] == "http"
        cookie_header, session = _cookie_header(scope), scope.get("session")
        if isinstance(decided, _Wait):
            app_id_token = self._getter(scope) if self._getter is not None else None
            secure = scope.get("scheme") in ("https", "wss")
            waited = await self._driver.verdict(cookie_header, session, app_id_token, secure=secure)
            if waited is None:
                await self.app(scope, receive, send)
                return
            decided = waited
        verdict: Verdict = decided
        if verdict.reply is not None:
            if http:
                await _send_reply(send, verdict.reply)
            else:
                await send({"type": "websocket.close", "code": 1011})
            return
        if verdict.clear_session and session is not None:
            session.clear()
        headers = [(name, value) for name, value in scope["headers"] if name != b"cookie"]
        if verdict.cookie_header:
            headers.append((b"cookie", verdict.cookie_header.encode("latin-1")))
        first_message = "http.response.start" if http else "websocket.accept"

        async def send_deleting(message: Message) -> None:
            if message["type"] == first_message:
                sent = message.get("headers", ())
                set_by_app = {value.partition(b"=")[0].strip().decode("latin-1") for name, value in sent
                              if name.lower() == b"set-cookie"}  # fmt: skip
                deletions = verdict.deletions_except(set_by_app)
                raw = [(b"set-cookie", line.encode("latin-1")) for _, line in deletions]
                message = {**message, "headers": [*sent, *raw]}
            await send(message)

        await self.app({**scope, "headers": headers}, receive, send_deleting)

    @property
    def store(self) -> ProcessLocalStore | None:
        """The revocation store, opened by the process that first uses it; None when requests are not checked."""
        return self._driver.store

    async def discover(self) -> ProviderMetadata | None:
        """Fetch the provider's discovery metadata now rather than on the first logout.

        :raises DiscoveryError: the provider did not answer, or not usably.
        """
        return await self._driver.discover()

    def _lifespan(self, receive: Receive) -> Receive:
        async def receive_and_act() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # In this worker, before any request: its store (and a Redis copy) is ready for the first one.
                await to_thread.run_sync(self._driver.open_store)
                if self.config.discover_at_startup:
                    # A failure is logged by discovery, and the first logout tries again.
                    with contextlib.suppress(DiscoveryError):
                        await self.discover()
            elif message["type"] == "lifespan.shutdown":
                await to_thread.run_sync(self._driver.close)
            return message

        return receive_and_act


class _Wait:
    """The per-request check needs the provider's keys fetched before it can answer."""


_WAIT = _Wait()


def _cookie_header(scope: Scope) -> str:
    """Every Cookie header of the request as one: HTTP/2 clients may send cookies in several fields."""
    # A plain loop with no list: this runs on every request while revocation
    # checks are on, and costs half what a generator over a browser's dozen
    # headers does.
    found = None
    for name, value in scope["headers"]:
        if name == b"cookie":
            found = value if found is None else found + b"; " + value
    return "" if found is None else found.decode("latin-1")


def _common_part(paths: Iterable[str]) -> str:
    """The longest string that each of *paths* contains."""
    candidates = list(paths)
    shortest = min(candidates, key=len)
    for size in range(len(shortest), 0, -1):
        for start in range(len(shortest) - size + 1):
            part = shortest[start : start + size]
            if all(part in path for path in candidates):
                return part
    return ""


def _relative_path(scope: Scope) -> tuple[str, str]:
    """The path below the mount point, and the mount point itself."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    # Current servers put root_path inside path; older ones left it out.
    if root_path and path.startswith(root_path):
        return path[len(root_path) :], root_path
    return path, root_path


async def _send_reply(send: Send, reply: Reply) -> None:
    raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": reply.body})
