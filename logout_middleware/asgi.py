"""The ASGI front door: wraps any ASGI 3 application (Starlette, FastAPI, Django, Litestar, ...)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from .config import LogoutConfig
from .discovery import DiscoveryError, ProviderMetadata
from .handler import MAX_BODY, LogoutHandler, LogoutRequest
from .messages import Refusal, Reply
from .outbound import Inbound, Outbound, run_async

__all__ = ["LogoutMiddleware"]

#: Any ASGI 3 application: Starlette's type, Litestar's and Django's all fit it.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

logger = logging.getLogger("logout_middleware")
_MAX_ANSWER = 1024 * 1024


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
        self.handler = LogoutHandler(self.config)
        self._needle = _common_part(self.handler.paths)
        self._guard = self.handler.guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            # For a request that is not ours this is the whole cost: every path of
            # ours contains the needle, and `in` is an operator where a method call
            # such as str.endswith() costs more.  The exact, mount-aware check runs
            # only when it passes.
            if self._needle in scope["path"]:
                path, root_path = _relative_path(scope)
                if path in self.handler.paths:
                    await self._answer(scope, receive, send, path, root_path)
                    return
            if self._guard is not None:
                await self._app_unless_revoked(scope, receive, send)
                return
        elif kind == "websocket" and self._guard is not None:
            await self._app_unless_revoked(scope, receive, send)
            return
        elif kind == "lifespan" and self.config.discover_at_startup:
            receive = self._discover_on_startup(receive)
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, path: str, root_path: str) -> None:
        """Answer a request for one of the middleware's own paths; the app never sees it."""
        headers = Headers(scope=scope)
        request = LogoutRequest(
            method=scope["method"],
            path=path,
            scheme=scope.get("scheme", "http"),
            host=headers.get("host"),
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            cookie=_cookie_header(scope),
            root_path=root_path,
            body=await _read_body(receive) if path in self.handler.body_paths else b"",
        )
        await _send_reply(send, await run_async(self.handler.handle(request), _send))

    async def _app_unless_revoked(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Call the app; for a revoked session, without its login cookies and with their deletion.

        Covers WebSocket handshakes too: a socket opened with a revoked session's
        cookies would keep that session alive in an app that trusts them.
        """
        cookie_header = _cookie_header(scope)
        if not cookie_header:
            await self.app(scope, receive, send)
            return
        http = scope["type"] == "http"
        try:
            screened = self.handler.screen(cookie_header, scope.get("scheme") in ("https", "wss"))
        except Refusal as refusal:
            if http:
                await _send_reply(send, refusal.reply)
            else:
                await send({"type": "websocket.close", "code": 1011})
            return
        if screened is None:
            await self.app(scope, receive, send)
            return
        stripped, deletions = screened
        headers = [(name, value) for name, value in scope["headers"] if name != b"cookie"]
        if stripped:
            headers.append((b"cookie", stripped.encode("latin-1")))
        raw_deletions = [(b"set-cookie", value.encode("latin-1")) for _, value in deletions]
        first_message = "http.response.start" if http else "websocket.accept"

        async def send_deleting(message: Message) -> None:
            if message["type"] == first_message:
                message = {**message, "headers": [*message.get("headers", ()), *raw_deletions]}
            await send(message)

        await self.app({**scope, "headers": headers}, receive, send_deleting)

    async def discover(self) -> ProviderMetadata | None:
        """Fetch the provider's discovery metadata now rather than on the first logout.

        :raises DiscoveryError: the provider did not answer, or not usably.
        """
        return await run_async(self.handler.provider_metadata(), _send)

    def _discover_on_startup(self, receive: Receive) -> Receive:
        async def receive_after_discovery() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # A failure is logged by discovery, and the first logout tries again.
                with contextlib.suppress(DiscoveryError):
                    await self.discover()
            return message

        return receive_after_discovery


def _cookie_header(scope: Scope) -> str:
    """Every Cookie header of the request as one: HTTP/2 clients may send cookies in several fields."""
    # A plain loop: this runs on every request while revocation checks are on,
    # and costs half what a generator over a browser's dozen headers does.
    values = []
    for name, value in scope["headers"]:
        if name == b"cookie":
            values.append(value)
    if not values:
        return ""
    return (values[0] if len(values) == 1 else b"; ".join(values)).decode("latin-1")


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


async def _read_body(receive: Receive) -> bytes:
    """At most MAX_BODY + 1 bytes of the body: enough for the core to tell "too large"."""
    body = b""
    while len(body) <= MAX_BODY:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return body[: MAX_BODY + 1]


async def _send(outbound: Outbound) -> Inbound:
    """Send one request to the provider with an async client; never raise."""
    import httpx  # noqa: PLC0415 - an optional extra, needed only with discovery or revocation

    try:
        async with (
            httpx.AsyncClient(timeout=outbound.timeout) as client,
            client.stream(outbound.method, outbound.url, headers=outbound.headers, content=outbound.body) as answer,
        ):
            body = b""
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > _MAX_ANSWER:
                    return Inbound(answer.status_code, error="the answer is larger than 1 MiB")
            return Inbound(answer.status_code, body, content_type=answer.headers.get("content-type", ""))
    except httpx.HTTPError as exc:
        return Inbound(0, error=f"{type(exc).__name__} from {outbound.url}: {exc}")
