"""One way to send a raw request per front door, so one behaviour table runs against all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from webob import Request


@dataclass
class Raw:
    """A response as it was on the wire: status, every header line in order, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


class Send(Protocol):
    """Sends one request: method, raw path and query, headers, and an optional body."""

    def __call__(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Raw: ...


def wsgi_sender(app: Any, host: str = "app.example", scheme: str = "http") -> Send:
    """Send through WebOb straight into a WSGI app; *target* is the raw path and query."""

    def send(method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Raw:
        request = Request.blank(target, method=method, headers={"Host": host, **headers})
        request.environ["wsgi.url_scheme"] = scheme
        if body:
            request.body = body
        response = request.get_response(app)
        return Raw(response.status_code, list(response.headerlist), response.body)

    return send


def asgi_sender(app: Any, host: str = "app.example", scheme: str = "http") -> Send:
    """Send through httpx's ASGI transport into an ASGI app."""
    return http_sender(f"{scheme}://{host}", transport=httpx.ASGITransport(app=app))


def http_sender(base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> Send:
    """Send with httpx to a base URL: a real server, or an ASGI app through *transport*."""
    url = httpx.URL(base_url)

    async def send_async(method: str, target: str, headers: Mapping[str, str], body: bytes) -> Raw:
        path, _, query = target.partition("?")
        request_url = url.copy_with(raw_path=(path + ("?" + query if query else "")).encode("latin-1"))
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.request(method, request_url, headers=dict(headers), content=body or None)
            return Raw(response.status_code, list(response.headers.multi_items()), response.content)

    def send(method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Raw:
        return asyncio.run(send_async(method, target, headers, body))

    return send


def middleware_sender(kind: str, *, scheme: str = "http", host: str = "app.example", **options: Any) -> Send:
    """A sender for the echo app behind the *kind* ("wsgi" or "asgi") middleware made with *options*."""
    from logout_middleware.asgi import LogoutMiddleware as AsgiMiddleware
    from logout_middleware.wsgi import LogoutMiddleware as WsgiMiddleware
    from tests.support.apps import echo_asgi, echo_wsgi

    if kind == "wsgi":
        return wsgi_sender(WsgiMiddleware(echo_wsgi, **options), host=host, scheme=scheme)
    return asgi_sender(AsgiMiddleware(echo_asgi, **options), host=host, scheme=scheme)


def drive_asgi(app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run one ASGI call by hand with the given incoming messages; return every message the app sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent
