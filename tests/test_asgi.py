"""What only the ASGI front door does: scopes it must not touch, mounting, streaming, frameworks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route

from logout_middleware.asgi import LogoutMiddleware
from tests.support.apps import CONFIG, echo_asgi
from tests.support.transports import asgi_sender, drive_asgi

Message = dict[str, Any]


def test_lifespan_passes_through() -> None:
    sent = drive_asgi(
        LogoutMiddleware(echo_asgi, CONFIG),
        {"type": "lifespan"},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


def test_websocket_on_the_logout_path_passes_through() -> None:
    seen: list[dict[str, Any]] = []

    async def websocket_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)
        await send({"type": "websocket.close"})

    scope = {"type": "websocket", "path": "/logout", "headers": [], "query_string": b""}
    sent = drive_asgi(LogoutMiddleware(websocket_app, CONFIG), scope, [])
    assert seen == [scope]
    assert sent == [{"type": "websocket.close"}]


def test_pass_through_is_untouched_and_streamed() -> None:
    """Messages reach the server one by one, as the app sends them: nothing is buffered or changed."""
    order: list[str] = []

    async def streaming_app(scope: Any, receive: Any, send: Any) -> None:
        body = await receive()
        order.append("app got " + body["body"].decode())
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1"), (b"x-a", b"2")]})
        for chunk in (b"one", b"two"):
            order.append("app sends " + chunk.decode())
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"upload", "more_body": False}

    async def send(message: Message) -> None:
        order.append("server got " + str(message.get("body", message.get("status"))))
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/upload", "root_path": "", "headers": [], "query_string": b""}
    asyncio.run(LogoutMiddleware(streaming_app, CONFIG)(scope, receive, send))
    assert order == [
        "app got upload",
        "server got 201",
        "app sends one",
        "server got b'one'",
        "app sends two",
        "server got b'two'",
        "server got b''",
    ]
    assert sent[0]["headers"] == [(b"x-a", b"1"), (b"x-a", b"2")]


@pytest.mark.parametrize(
    ("scope_path", "root_path", "ours"),
    [
        pytest.param("/app/logout", "/app", True, id="root-path-inside-path"),
        pytest.param("/logout", "/app", True, id="root-path-outside-path"),
        pytest.param("/logout", "", True, id="not-mounted"),
        pytest.param("/app/x/logout", "/app", False, id="deeper"),
        pytest.param("/other/logout", "/app", False, id="other-prefix"),
        pytest.param("/app/logout/", "/app", False, id="trailing-slash"),
    ],
)
def test_mount_aware_path(scope_path: str, root_path: str, ours: bool) -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": scope_path,
        "root_path": root_path,
        "scheme": "https",
        "headers": [(b"host", b"app.example")],
        "query_string": b"",
    }
    sent = drive_asgi(LogoutMiddleware(echo_asgi, CONFIG), scope, [{"type": "http.request"}])
    assert sent[0]["status"] == (303 if ours else 200)


def test_mounted_inside_starlette() -> None:
    inner = LogoutMiddleware(echo_asgi, CONFIG)
    outer = Starlette(routes=[Mount("/app", app=inner), Route("/logout", lambda r: PlainTextResponse("outer"))])
    send = asgi_sender(outer)
    assert send("GET", "/app/logout", {}).status == 303
    assert send("GET", "/logout", {}).body == b"outer"


async def stream(request: Request) -> StreamingResponse:
    async def chunks() -> Any:
        yield b"a"
        yield b"b"

    return StreamingResponse(chunks(), headers={"x-app": "echo"})


@pytest.mark.parametrize("framework", ["starlette-add-middleware", "starlette-middleware-list", "fastapi"])
def test_framework_wiring(framework: str) -> None:
    options = {"end_session_endpoint": "https://op.example/end", "client_id": "c"}
    app: Any
    if framework == "fastapi":
        app = FastAPI()
        app.add_api_route("/stream", stream)
        app.add_middleware(LogoutMiddleware, **options)
    elif framework == "starlette-add-middleware":
        app = Starlette(routes=[Route("/stream", stream)])
        app.add_middleware(LogoutMiddleware, **options)
    else:
        app = Starlette(routes=[Route("/stream", stream)], middleware=[Middleware(LogoutMiddleware, **options)])
    send = asgi_sender(app)
    assert send("GET", "/stream", {}).body == b"ab"
    response = send("GET", "/logout", {})
    assert response.status == 303
    assert response.get("Location") == "https://op.example/end?client_id=c"


def test_https_scope_and_raw_headers_are_bytes() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/logout",
        "scheme": "https",
        "headers": [(b"host", b"app.example")],
        "query_string": b"",
    }
    sent = drive_asgi(LogoutMiddleware(echo_asgi, CONFIG), scope, [])
    names = [name for name, _ in sent[0]["headers"]]
    assert all(isinstance(name, bytes) and name == name.lower() for name in names)
    cookies = [value for name, value in sent[0]["headers"] if name == b"set-cookie"]
    assert cookies and all(b"; Secure;" in value for value in cookies)
    assert sent[1] == {"type": "http.response.body", "body": b""}


def test_through_httpx_client_the_jar_hides_deletions() -> None:
    """Why the tests read raw Set-Cookie lines: a client's cookie jar drops expired cookies."""
    transport = httpx.ASGITransport(app=LogoutMiddleware(echo_asgi, CONFIG))

    async def go() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=transport, base_url="http://app.example") as client:
            response = await client.get("/logout")
            return len(response.cookies), len(response.headers.get_list("set-cookie"))

    assert asyncio.run(go()) == (0, 5)
