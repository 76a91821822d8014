"""Discovery: parsing, caching, and both adapters against a provider that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from urllib.parse import parse_qsl, urlsplit

import pytest

from logout_middleware import LogoutConfig
from logout_middleware.asgi import LogoutMiddleware as AsgiMiddleware
from logout_middleware.core.values import Inbound
from logout_middleware.specs.discovery import (
    RETRY_AFTER_FAILURE,
    DiscoveryError,
    MetadataCache,
    ProviderMetadata,
    parse_metadata,
)
from logout_middleware.wsgi import LogoutMiddleware as WsgiMiddleware
from tests.support.apps import ID_TOKEN, echo_asgi, echo_wsgi
from tests.support.provider import StubState
from tests.support.scripted import drive
from tests.support.transports import middleware_sender

ISSUER = "https://op.example"


def document(**changes: object) -> bytes:
    return json.dumps({"issuer": ISSUER, "end_session_endpoint": f"{ISSUER}/end", **changes}).encode()


@pytest.mark.parametrize(
    ("answer", "unavailable", "reason"),
    [
        pytest.param(Inbound(0, error="ConnectError: refused"), True, "refused", id="down"),
        pytest.param(Inbound(503), True, "HTTP 503", id="503"),
        pytest.param(Inbound(404), False, "HTTP 404", id="404"),
        pytest.param(Inbound(200, b"<html>"), False, "not valid JSON", id="html"),
        pytest.param(Inbound(200, b"[]"), False, "not a JSON object", id="array"),
        pytest.param(
            Inbound(200, document(issuer="https://evil.example")), False, "not the configured issuer", id="wrong-issuer"
        ),
        pytest.param(
            Inbound(200, document(issuer=ISSUER + "/")), False, "not the configured issuer", id="issuer-trailing-slash"
        ),
        pytest.param(
            Inbound(200, document(end_session_endpoint="javascript:x")),
            False,
            "end_session_endpoint",
            id="bad-endpoint",
        ),
        pytest.param(Inbound(200, b" " * 600_000), False, "larger than", id="huge"),
    ],
)
def test_unusable_answers(answer: Inbound, unavailable: bool, reason: str) -> None:
    with pytest.raises(DiscoveryError, match=reason) as raised:
        parse_metadata(ISSUER, answer)
    assert raised.value.unavailable is unavailable


def test_metadata_fields() -> None:
    metadata = parse_metadata(ISSUER, Inbound(200, document(
        revocation_endpoint=f"{ISSUER}/revoke", jwks_uri=f"{ISSUER}/jwks",
        id_token_signing_alg_values_supported=["RS256", 5], backchannel_logout_supported=True,
        frontchannel_logout_supported="yes",
    )))  # fmt: skip
    assert metadata == ProviderMetadata(
        issuer=ISSUER, end_session_endpoint=f"{ISSUER}/end", revocation_endpoint=f"{ISSUER}/revoke",
        jwks_uri=f"{ISSUER}/jwks", id_token_signing_alg_values_supported=("RS256",),
        backchannel_logout_supported=True, frontchannel_logout_supported=False,
    )  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_fetches_once_per_ttl_and_keeps_stale_metadata_when_the_provider_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    cache = MetadataCache(ISSUER, ttl=60, timeout=1, monotonic=clock)
    answers = iter(
        [
            Inbound(200, document()),
            Inbound(0, error="down"),
            Inbound(200, document(end_session_endpoint=f"{ISSUER}/new")),
        ]
    )
    fetched: list[str] = []

    def send(request: object) -> Inbound:
        fetched.append(getattr(request, "url", ""))
        return next(answers)

    assert drive(cache.get(), send).end_session_endpoint == f"{ISSUER}/end"
    clock.now += 59
    assert drive(cache.get(), send).end_session_endpoint == f"{ISSUER}/end"
    assert fetched == [f"{ISSUER}/.well-known/openid-configuration"]
    clock.now += 2
    with caplog.at_level(logging.WARNING, logger="logout_middleware"):
        assert drive(cache.get(), send).end_session_endpoint == f"{ISSUER}/end", "stale beats nothing"
    assert "using the metadata fetched 61 s ago" in caplog.text
    clock.now += RETRY_AFTER_FAILURE - 1
    assert drive(cache.get(), send).end_session_endpoint == f"{ISSUER}/end", "no asking again at once"
    assert len(fetched) == 2
    clock.now += 1
    assert drive(cache.get(), send).end_session_endpoint == f"{ISSUER}/new", "then it asks again"
    assert len(fetched) == 3


def test_discovered_endpoint_is_used_and_cached(stub: StubState, kind: str) -> None:
    send = middleware_sender(kind, issuer=stub.issuer, client_id="rp", post_logout_redirect_uri="https://app.example/")
    for _ in range(3):
        response = send("GET", "/logout", {"Cookie": f"id_token={ID_TOKEN}"})
        assert response.status == 303
        location = urlsplit(response.get("Location") or "")
        assert f"{location.scheme}://{location.netloc}{location.path}" == f"{stub.issuer}/session/end"
        assert dict(parse_qsl(location.query))["id_token_hint"] == ID_TOKEN
    assert [r["path"] for r in stub.requests] == ["/.well-known/openid-configuration"]


def test_explicit_endpoint_wins_and_needs_no_discovery(stub: StubState, kind: str) -> None:
    send = middleware_sender(kind, issuer=stub.issuer, end_session_endpoint="https://other.example/end")
    assert (send("GET", "/logout", {}).get("Location") or "").startswith("https://other.example/end")
    assert stub.requests == []


@pytest.mark.parametrize(
    ("mode", "status"),
    [("invalid-json", 502), ("wrong-issuer", 502), ("not-object", 502), ("404", 502), ("500", 503)],
)  # fmt: skip
def test_a_broken_provider_gets_a_clear_page_and_the_next_request_retries(
    stub: StubState, kind: str, mode: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    stub.mode = mode
    send = middleware_sender(kind, issuer=stub.issuer, client_id="rp")
    with caplog.at_level(logging.ERROR, logger="logout_middleware"):
        response = send("GET", "/logout", {"Cookie": f"id_token={ID_TOKEN}"})
    assert response.status == status
    assert response.get_all("Set-Cookie") == [], "nothing is logged out when the provider cannot be reached"
    assert response.get("Content-Type") == "text/plain; charset=utf-8"
    assert b"Traceback" not in response.body and len(response.body) < 200
    assert caplog.records, "the reason is logged"
    assert send("GET", "/elsewhere", {}).get("X-App") == "echo", "other paths are never affected"
    stub.mode = "ok"
    assert send("GET", "/logout", {}).status == 303
    assert len([r for r in stub.requests if r["path"].startswith("/.well-known")]) == 2


def test_a_provider_without_end_session_endpoint_gets_502(stub: StubState, kind: str) -> None:
    stub.mode = "no-end-session"
    response = middleware_sender(kind, issuer=stub.issuer, client_id="rp")("GET", "/logout", {})
    assert response.status == 502
    assert b"has no logout endpoint (set provider='google' for local logout)" in response.body
    assert response.get_all("Set-Cookie") == []


def test_a_slow_provider_times_out_with_503(stub: StubState, kind: str) -> None:
    stub.delay = 1.5
    send = middleware_sender(kind, issuer=stub.issuer, client_id="rp", http_timeout=0.2)
    response = send("GET", "/logout", {})
    assert response.status == 503
    assert b"not answering" in response.body


def test_a_provider_that_is_down_gets_503(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    send = middleware_sender(kind, issuer=f"http://127.0.0.1:{port}", client_id="rp")
    with caplog.at_level(logging.ERROR, logger="logout_middleware"):
        response = send("GET", "/logout", {})
    assert response.status == 503
    assert "ConnectError" in caplog.text


def test_wsgi_discover_on_request(stub: StubState) -> None:
    middleware = WsgiMiddleware(echo_wsgi, issuer=stub.issuer, client_id="rp")
    metadata = middleware.discover()
    assert metadata is not None
    assert metadata.end_session_endpoint == f"{stub.issuer}/session/end"
    assert metadata.backchannel_logout_supported is True
    assert WsgiMiddleware(echo_wsgi, end_session_endpoint=f"{stub.issuer}/end").discover() is None


def test_asgi_discovers_at_lifespan_startup(stub: StubState) -> None:
    middleware = AsgiMiddleware(echo_asgi, issuer=stub.issuer, client_id="rp", discover_at_startup=True)
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[object] = []

    async def receive() -> dict[str, str]:
        return incoming.pop(0)

    async def send(message: object) -> None:
        sent.append(message)

    asyncio.run(middleware({"type": "lifespan"}, receive, send))
    assert [r["path"] for r in stub.requests] == ["/.well-known/openid-configuration"]
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    stub.mode = "500"
    failing = AsgiMiddleware(echo_asgi, issuer=stub.issuer, client_id="rp", discover_at_startup=True)
    incoming[:] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    asyncio.run(failing({"type": "lifespan"}, receive, send))
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}, "a provider that is down does not stop the app"


def test_issuer_must_be_https_except_on_loopback() -> None:
    with pytest.raises(ValueError, match="issuer must be an https"):
        LogoutConfig(issuer="http://op.example")
    assert LogoutConfig(issuer="http://localhost:9000").issuer == "http://localhost:9000"
