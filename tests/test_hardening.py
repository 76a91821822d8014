"""Faults and hostile inputs, in process: each numbered item of the hardening review has its test here.

The ones that need real servers or a real Redis (slow bodies over a socket,
killed workers, a paused or failing-over Redis, pre-fork workers) are in
``tests/test_faults.py``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from webob import Request

from logout_middleware import ConfigError, LogoutConfig
from logout_middleware.asgi import LogoutMiddleware as AsgiMiddleware
from logout_middleware.stores import MemoryStore
from logout_middleware.web.return_to import is_local_path
from logout_middleware.wsgi import LogoutMiddleware as WsgiMiddleware
from tests.support.apps import echo_asgi, echo_wsgi
from tests.support.provider import StubState
from tests.support.tokens import JWKS, ROTATED, b64, id_token, logout_token
from tests.support.transports import Raw, Send, drive_asgi, middleware_sender

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def provider(stub: StubState) -> StubState:
    stub.jwks = JWKS
    return stub


def receiver(kind: str, stub: StubState, **options: Any) -> Send:
    return middleware_sender(
        kind, issuer=stub.issuer, client_id="rp", backchannel_logout_path="/bc", clear_cookies=["session"], **options
    )


def post(send: Send, token: str) -> Raw:
    return send("POST", "/bc", FORM, urlencode({"logout_token": token}).encode())


def seen_by_app(send: Send, cookie: str) -> str:
    response = send("GET", "/page", {"Cookie": cookie})
    assert response.status == 200, response.body
    seen = response.body.decode().partition("cookie=")[2]
    return "" if seen == "None" else seen


# -- 1. a slow request body gets 408, never a hung worker ----------------------------------


class Stalled:
    """A WSGI input whose client announced a body and stopped sending it."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def read(self, size: int = -1) -> bytes:
        self.released.wait(30)
        return b""


def test_wsgi_a_body_that_never_comes_gets_408(provider: StubState) -> None:
    middleware = WsgiMiddleware(echo_wsgi, issuer=provider.issuer, client_id="rp", backchannel_logout_path="/bc",
                                body_timeout=0.3)  # fmt: skip
    stalled = Stalled()
    environ = Request.blank("/bc", method="POST", headers={**FORM, "Content-Length": "100"}).environ
    environ["wsgi.input"] = stalled
    started = time.monotonic()
    response = Request(environ).get_response(middleware)
    stalled.released.set()
    assert (response.status_code, response.headers["Connection"]) == (408, "close")
    assert time.monotonic() - started < 2.0


def test_asgi_a_body_that_never_comes_gets_408(provider: StubState) -> None:
    middleware = AsgiMiddleware(echo_asgi, issuer=provider.issuer, client_id="rp", backchannel_logout_path="/bc",
                                body_timeout=0.3)  # fmt: skip

    async def call() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(30)  # the client announced a body and sends nothing
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(b"content-type", FORM["Content-Type"].encode()), (b"content-length", b"100")]
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/bc",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
        }
        await asyncio.wait_for(middleware(scope, receive, send), 5)
        return sent

    started = time.monotonic()
    sent = asyncio.run(call())
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert time.monotonic() - started < 2.0


def test_body_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="body_timeout"):
        LogoutConfig(issuer="https://op.example", body_timeout=0)


# -- 2. a key rotation right after the first fetch loses no logout -------------------------


def test_a_rotation_right_after_the_routine_first_fetch_is_followed(provider: StubState, kind: str) -> None:
    send = receiver(kind, provider)
    assert post(send, logout_token(provider.issuer, sid="before")).status == 200  # the routine first fetch
    provider.jwks = {"keys": [*JWKS["keys"], ROTATED.as_dict(private=False)]}  # the provider rotates at once
    assert post(send, logout_token(provider.issuer, key=ROTATED, sid="after")).status == 200
    assert [request["path"] for request in provider.requests].count("/jwks") == 2


def test_keys_that_cannot_be_refetched_now_get_503_with_retry_after(provider: StubState, kind: str) -> None:
    send = receiver(kind, provider)
    assert post(send, logout_token(provider.issuer)).status == 200
    provider.jwks_status = 500
    answer = post(send, logout_token(provider.issuer, key=ROTATED, sid="rotated"))
    assert answer.status == 503
    assert 1 <= int(answer.get("Retry-After") or 0) <= 10
    assert json.loads(answer.body)["error"] == "temporarily_unavailable"


# -- 5. a fresh process does not lose concurrent logouts -----------------------------------


def test_wsgi_concurrent_logouts_in_a_fresh_process_wait_for_one_fetch(provider: StubState) -> None:
    provider.delay = 0.3  # every answer of the provider takes a while: the fetch is in flight for all of them
    send = receiver("wsgi", provider)
    answers: list[int] = []

    def one(index: int) -> None:
        answers.append(post(send, logout_token(provider.issuer, sid=f"s{index}")).status)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert answers == [200] * 6
    paths = [request["path"] for request in provider.requests]
    assert (paths.count("/.well-known/openid-configuration"), paths.count("/jwks")) == (1, 1)


def test_asgi_concurrent_logouts_in_a_fresh_process_wait_for_one_fetch(provider: StubState) -> None:
    provider.delay = 0.3
    app = AsgiMiddleware(echo_asgi, issuer=provider.issuer, client_id="rp", backchannel_logout_path="/bc")

    async def all_at_once() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app.example") as client:
            answers = await asyncio.gather(*(
                client.post("/bc", headers=FORM, content=urlencode({"logout_token": logout_token(
                    provider.issuer, sid=f"s{index}")}).encode())
                for index in range(6)
            ))  # fmt: skip
        return [answer.status_code for answer in answers]

    assert asyncio.run(all_at_once()) == [200] * 6
    paths = [request["path"] for request in provider.requests]
    assert (paths.count("/.well-known/openid-configuration"), paths.count("/jwks")) == (1, 1)


# -- 7. the front-channel receiver cannot be made to revoke or hold without bound ------------


def front(kind: str, stub: StubState, **options: Any) -> Send:
    return middleware_sender(kind, issuer=stub.issuer, client_id="rp", frontchannel_logout_path="/fc",
                             clear_cookies=["session"], **options)  # fmt: skip


def test_a_session_seen_here_is_revoked_by_a_cookieless_front_channel_logout(provider: StubState, kind: str) -> None:
    send = front(kind, provider)
    cookie = f"id_token={id_token(provider.issuer, sid='seen')}; session=s"
    assert seen_by_app(send, cookie) == cookie  # the session comes by: now it is known here
    assert send("GET", "/fc?" + urlencode({"iss": provider.issuer, "sid": "seen"}), {}).status == 200
    assert seen_by_app(send, cookie) == ""


def test_unknown_sessions_are_rate_limited_and_capped(
    provider: StubState, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("logout_middleware.core.allowance._monotonic", lambda: 1000.0)  # no refill while the test runs
    store = MemoryStore()
    send = front(kind, provider, revocation_store=store)
    answers = [send("GET", "/fc?" + urlencode({"iss": provider.issuer, "sid": f"s{i}"}), {}).status for i in range(150)]
    assert answers[:100] == [200] * 100, "a burst of 100 unknown sessions is taken"
    assert answers[100:] == [429] * 50, "then only as the allowance refills, 10 a second"
    assert len(store.revocations) == 100
    victim = f"id_token={id_token(provider.issuer, sid='victim')}; session=s"
    seen_by_app(send, victim)
    assert send("GET", "/fc?" + urlencode({"iss": provider.issuer, "sid": "victim"}), {}).status == 200, (
        "a session seen here is never limited"
    )


def test_the_allowance_cap_holds_whatever_the_rate() -> None:
    from logout_middleware.core.allowance import UnconfirmedAllowance

    now = [0.0]
    allowance = UnconfirmedAllowance(rate=1000.0, burst=5, cap=8, lifetime=60.0, clock=lambda: now[0])
    taken = []
    for _ in range(20):
        now[0] += 1.0
        taken.append(allowance.take())
    assert taken == [True] * 8 + [False] * 12, "no more than the cap held at a time"
    now[0] += 60.0
    assert allowance.take(), "once the first expire, there is room again"


# -- 8. garbage back-channel posts make no request to the provider --------------------------


@pytest.mark.parametrize(
    "token",
    ["x", "a.b.c", f"{b64({'alg': 'none'})}.{b64({})}.", f"{b64({'alg': 'HS256'})}.{b64({})}.c2ln", "e" * 20_000],
    ids=["junk", "not-json", "alg-none", "hmac-without-secret", "oversized"],
)
def test_garbage_costs_no_request_to_the_provider(provider: StubState, kind: str, token: str) -> None:
    answer = post(receiver(kind, provider), token)
    assert answer.status == 400
    assert provider.requests == []


def test_a_failing_provider_keeps_the_last_good_keys(
    provider: StubState, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    send = receiver(kind, provider, discovery_ttl=0.01)
    assert post(send, logout_token(provider.issuer, sid="a")).status == 200
    time.sleep(0.05)  # both caches are stale now
    provider.mode, provider.jwks_status = "500", 500
    assert post(send, logout_token(provider.issuer, sid="b")).status == 200, "stale keys and metadata still serve"
    asked = len(provider.requests)
    for sid in ("c", "d", "e"):
        assert post(send, logout_token(provider.issuer, sid=sid)).status == 200
    assert len(provider.requests) == asked, "no asking again for RETRY_AFTER_FAILURE seconds"


# -- 10 and 11. answers that were 500s --------------------------------------------------------


def test_a_state_that_is_not_utf8_is_a_400(kind: str) -> None:
    send = middleware_sender(kind, end_session_endpoint="https://op.example/end", client_id="rp",
                             post_logout_redirect_uri="https://app.example/cb", logout_callback_path="/cb")  # fmt: skip
    answer = send("GET", "/cb?state=%ff", {"Cookie": "logout_state=abc.123.Lw"})
    assert answer.status == 400
    assert b"Traceback" not in answer.body


def test_a_huge_iat_in_an_id_token_cookie_is_no_500_anywhere(provider: StubState, kind: str) -> None:
    send = receiver(kind, provider, frontchannel_logout_path="/fc", forward_auth_path="/auth")
    huge = id_token(provider.issuer, iat=None, sid="big")
    header, _, signature = huge.split(".")
    forged = f"{header}.{b64({'iss': provider.issuer, 'sid': 'big', 'aud': 'rp', 'iat': int('9' * 400)})}.{signature}"
    signed = id_token(provider.issuer, sid="big", auth_time=int("9" * 400))
    for cookie in (f"id_token={forged}; session=s", f"id_token={signed}; session=s"):
        for method, path in (("GET", "/page"), ("GET", "/auth"), ("GET", "/logout"), ("GET", "/fc")):
            assert send(method, path, {"Cookie": cookie}).status < 500, (path, cookie[:40])


def test_a_logout_token_with_a_huge_iat_is_refused_with_400(provider: StubState, kind: str) -> None:
    answer = post(receiver(kind, provider), logout_token(provider.issuer, iat=int("9" * 400), exp=int("9" * 401)))
    assert answer.status == 400
    assert "iat" in json.loads(answer.body)["error_description"]


# -- 13. return_to is checked as a browser resolves it ---------------------------------------


@pytest.mark.parametrize(
    "value",
    ["/..//evil.example", "/./x/..//evil.example", "/%2e%2e//evil.example", "/x/%2E%2e//evil.example/", "/.//evil"],
)
def test_dot_segments_that_resolve_to_another_host_are_refused(value: str) -> None:
    assert not is_local_path(value)


@pytest.mark.parametrize("value", ["/a/../b", "/orders/./2", "/x/..", "/a/b/..?x=//y", "/%2e/ok"])
def test_dot_segments_within_the_site_are_kept(value: str) -> None:
    assert is_local_path(value)


# -- 14 and 15. the state cookie's attributes ------------------------------------------------


def callback_app(kind: str, **options: Any) -> Send:
    return middleware_sender(kind, end_session_endpoint="https://op.example/end", client_id="rp",
                             post_logout_redirect_uri="https://app.example/cb", logout_callback_path="/cb",
                             **options)  # fmt: skip


def test_a_mount_path_that_cannot_be_a_cookie_path_is_refused() -> None:
    config = LogoutConfig(end_session_endpoint="https://op.example/end", client_id="rp",
                          post_logout_redirect_uri="https://app.example/cb", logout_callback_path="/cb")  # fmt: skip
    middleware = WsgiMiddleware(echo_wsgi, config)
    for script_name in ("/app;Domain=evil.example", "/app path", "/app\r\nX: y"):
        environ = Request.blank("/logout").environ
        environ["SCRIPT_NAME"] = script_name
        response = Request(environ).get_response(middleware)
        assert response.status_code == 400, script_name
        assert "Set-Cookie" not in response.headers
    environ = Request.blank("/logout").environ
    environ["SCRIPT_NAME"] = "/portal"
    [state] = [line for line in Request(environ).get_response(middleware).headers.getall("Set-Cookie")
               if line.startswith("logout_state=")]  # fmt: skip
    assert "; Path=/portal/cb;" in state


def test_a_logout_refused_for_its_mount_path_ends_nothing() -> None:
    ended: list[object] = []
    config = LogoutConfig(end_session_endpoint="https://op.example/end", client_id="rp",
                          post_logout_redirect_uri="https://app.example/cb", logout_callback_path="/cb",
                          on_logout=ended.append)  # fmt: skip
    environ = Request.blank("/logout").environ
    environ["SCRIPT_NAME"] = "/app;Domain=evil.example"
    assert Request(environ).get_response(WsgiMiddleware(echo_wsgi, config)).status_code == 400
    assert ended == []


def test_a_prefixed_state_cookie_always_carries_secure(kind: str) -> None:
    send = callback_app(kind, state_cookie="__Secure-logout_state")
    [state] = [line for line in send("GET", "/logout", {}).get_all("Set-Cookie") if line.startswith("__Secure-")]
    assert "; Secure;" in state, "over plain http too: browsers drop such a cookie otherwise"


# -- 16. the stricter logout CSRF mode ------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"Sec-Fetch-Site": "same-origin"}, 303, id="same-origin"),
        pytest.param({"Sec-Fetch-Site": "none"}, 303, id="typed-or-bookmarked"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, 403, id="sibling-subdomain"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, 403, id="cross-site"),
        pytest.param({"Referer": "http://app.example/account"}, 303, id="old-browser-same-referer"),
        pytest.param({"Referer": "https://evil.example/"}, 403, id="old-browser-foreign-referer"),
        pytest.param({"Origin": "http://app.example"}, 303, id="old-browser-same-origin"),
        pytest.param({}, 403, id="old-browser-no-evidence"),
    ],
)
def test_require_same_origin(kind: str, headers: dict[str, str], status: int) -> None:
    send = middleware_sender(kind, end_session_endpoint="https://op.example/end", require_same_origin=True)
    assert send("GET", "/logout", headers).status == status


def test_the_default_mode_lets_links_without_fetch_metadata_through(kind: str) -> None:
    send = middleware_sender(kind, end_session_endpoint="https://op.example/end")
    assert send("GET", "/logout", {}).status == 303
    assert send("GET", "/logout", {"Sec-Fetch-Site": "same-site"}).status == 303


# -- 17. the options accept the sequences users pass ----------------------------------------


def test_lists_are_accepted_and_stored_as_tuples() -> None:
    cookies: list[str] = ["session"]
    methods: list[str] = ["get"]
    extra: list[tuple[str, str]] = [("prompt", "login")]
    config = LogoutConfig(end_session_endpoint="https://op.example/end", clear_cookies=cookies, methods=methods,
                          extra_params=extra, allowed_redirect_uris=["https://app.example/a"])  # fmt: skip
    assert (config.clear_cookies, config.methods, config.extra_params) == (("session",), ("GET",), tuple(extra))


# -- 9. stores opened per process, closed at shutdown -----------------------------------------


class RecordingStore(MemoryStore):
    """A memory store that says when it was closed."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_asgi_lifespan_opens_the_store_at_startup_and_closes_it_at_shutdown(provider: StubState) -> None:
    store = RecordingStore()
    seen: list[object] = []

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # startup
        seen.append(opened())
        await send({"type": "lifespan.startup.complete"})
        await receive()  # shutdown
        await send({"type": "lifespan.shutdown.complete"})

    app = AsgiMiddleware(lifespan_app, issuer=provider.issuer, client_id="rp", backchannel_logout_path="/bc",
                         revocation_store=store)  # fmt: skip

    def opened() -> object:
        assert app.store is not None
        return app.store.opened

    assert opened() is None, "nothing is opened when the app is built"
    drive_asgi(app, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert seen == [store], "opened at startup, before the first request"
    assert store.closed and opened() is None, "closed at shutdown"
