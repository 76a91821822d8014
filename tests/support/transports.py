"""One way to send a raw request per front door, so one behaviour table runs against all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from webob import Request

from logout_middleware import LogoutConfig


@dataclass
class Raw:
    """A response as it was on the wire: status, every header line in order, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def deleted_cookies(self) -> set[str]:
        """The names of the cookies this response deletes: an empty value that expires now (``Max-Age=0``)."""
        return deleted_cookies(self.get_all("set-cookie"))

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


def deleted_cookies(set_cookie_lines: Iterable[str]) -> set[str]:
    """The names of the cookies these ``Set-Cookie`` values delete: an empty value that expires now."""
    deleted = set()
    for line in set_cookie_lines:
        pair, *attributes = (part.strip() for part in line.split(";"))
        name, _, value = pair.partition("=")
        if value in ("", '""') and "max-age=0" in (attribute.lower().replace(" ", "") for attribute in attributes):
            deleted.add(name)
    return deleted


class Send(Protocol):
    """Sends one request: method, raw path and query, headers, and an optional body."""

    def __call__(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Raw: ...


def wsgi_sender(app: Any, host: str = "app.example", scheme: str = "http", root_path: str = "") -> Send:
    """Send through WebOb straight into a WSGI app; *target* is the raw path and query.

    :param root_path: where the app is mounted (``SCRIPT_NAME``): a *target* below it reaches the app
        with the rest as ``PATH_INFO``, as a server that mounts the app there passes it.
    """

    def send(method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Raw:
        if root_path:
            assert target.startswith(root_path + "/"), f"{target!r} is not below the mount point {root_path!r}"
            target = target[len(root_path) :]
        request = Request.blank(target, method=method, headers={"Host": host, **headers})
        request.environ["wsgi.url_scheme"] = scheme
        request.environ["SCRIPT_NAME"] = root_path
        if body:
            request.body = body
        response = request.get_response(app)
        return Raw(response.status_code, list(response.headerlist), response.body)

    return send


def asgi_sender(app: Any, host: str = "app.example", scheme: str = "http", root_path: str = "") -> Send:
    """Send through httpx's ASGI transport into an ASGI app.

    :param root_path: where the app is mounted: the scope's ``root_path``, with ``path`` the whole
        *target* as the ASGI spec wants it.
    """
    return http_sender(f"{scheme}://{host}", transport=httpx.ASGITransport(app=app, root_path=root_path))


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


def middleware_sender(
    kind: str,
    config: LogoutConfig | None = None,
    *,
    scheme: str = "http",
    host: str = "app.example",
    root_path: str = "",
    **options: Any,
) -> Send:
    """A sender for the echo app behind the *kind* ("wsgi" or "asgi") middleware made with *config* and *options*.

    The one way the tests run a case against both adapters: take the ``kind`` fixture of
    tests/conftest.py, which runs the test once for each, and build the sender with this.
    """
    from logout_middleware.asgi import LogoutMiddleware as AsgiMiddleware
    from logout_middleware.wsgi import LogoutMiddleware as WsgiMiddleware
    from tests.support.apps import echo_asgi, echo_wsgi

    if kind == "wsgi":
        return wsgi_sender(WsgiMiddleware(echo_wsgi, config, **options), host=host, scheme=scheme, root_path=root_path)
    if kind == "asgi":
        return asgi_sender(AsgiMiddleware(echo_asgi, config, **options), host=host, scheme=scheme, root_path=root_path)
    raise ValueError(f"kind is 'wsgi' or 'asgi', not {kind!r}")


def drive_asgi(app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run one ASGI call by hand with the given incoming messages; return every message the app sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent
