"""Logout started at the provider: the back-channel and front-channel receivers, forward-auth,
and the per-request check that turns a revoked session into an anonymous request."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from webob import Request

from logout_middleware import ConfigError, LogoutConfig
from logout_middleware.asgi import LogoutMiddleware as AsgiMiddleware
from logout_middleware.core import session_check as sessions
from logout_middleware.errors import StoreUnavailableError
from logout_middleware.stores import MemoryStore
from logout_middleware.stores.redis import RedisStore
from logout_middleware.wsgi import LogoutMiddleware as WsgiMiddleware
from tests.support.apps import echo_asgi, echo_wsgi
from tests.support.provider import StubState
from tests.support.redis_server import redis_server
from tests.support.tables import deletion
from tests.support.tokens import JWKS, KEY, ROTATED, b64, id_token, logout_token
from tests.support.transports import Raw, Send, asgi_sender, drive_asgi, middleware_sender, wsgi_sender

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def stub(stub: StubState) -> StubState:
    stub.jwks = JWKS
    return stub


def make(kind: str, stub: StubState, **options: Any) -> Send:
    options = {"issuer": stub.issuer, "client_id": "rp", "backchannel_logout_path": "/backchannel-logout",
               "clear_cookies": ["session"], **options}  # fmt: skip
    return middleware_sender(kind, **options)


def post_token(send: Send, token: str, **extra: str) -> Raw:
    return send("POST", "/backchannel-logout", FORM, urlencode({"logout_token": token, **extra}).encode())


def error_of(response: Raw) -> str:
    assert response.status == 400, response.body
    assert response.get("Content-Type") == "application/json"
    assert response.get("Cache-Control") == "no-store"
    document = json.loads(response.body)
    assert document["error"] == "invalid_request"
    return str(document["error_description"])


def app_saw(send: Send, cookie: str) -> tuple[str, list[str]]:
    """What cookie header the app received for a request with *cookie*, and the Set-Cookie lines sent back."""
    response = send("GET", "/page", {"Cookie": cookie})
    assert response.status == 200
    seen = response.body.decode().partition("cookie=")[2]
    # An app behind the ASGI adapter gets no Cookie header at all when nothing is left; WSGI gets "".
    return ("" if seen == "None" else seen), response.get_all("Set-Cookie")


def test_a_valid_logout_token_revokes_that_session_only(stub: StubState, kind: str) -> None:
    send = make(kind, stub)
    mine, other = id_token(stub.issuer, sid="sid-1"), id_token(stub.issuer, sid="sid-2")
    assert app_saw(send, f"id_token={mine}; session=s1; theme=dark") == (f"id_token={mine}; session=s1; theme=dark", [])
    response = post_token(send, logout_token(stub.issuer, sid="sid-1"), extra_param="ignored")
    assert (response.status, response.body, response.get("Cache-Control")) == (200, b"", "no-store")
    seen, set_cookies = app_saw(send, f"id_token={mine}; session=s1; theme=dark")
    assert seen == "theme=dark", "the app sees an anonymous request"
    assert [line.split(";")[0] for line in set_cookies] == ["id_token=", "session="]
    assert all("Max-Age=0" in line for line in set_cookies)
    assert app_saw(send, f"id_token={other}; session=s2") == (f"id_token={other}; session=s2", [])


def test_a_sub_only_token_revokes_every_earlier_session_of_the_user(stub: StubState, kind: str) -> None:
    send = make(kind, stub)
    now = time.time()
    before = [id_token(stub.issuer, sid=f"s{i}", iat=now - 100) for i in range(2)]
    assert post_token(send, logout_token(stub.issuer, sid=None, sub="alice")).status == 200
    for token in before:
        assert app_saw(send, f"id_token={token}")[0] == ""
    later = id_token(stub.issuer, sid="s9", iat=now + 100)
    assert app_saw(send, f"id_token={later}")[0] == f"id_token={later}", "a later sign-in is not revoked"
    bob = id_token(stub.issuer, sid="s1", sub="bob", iat=now - 100)
    assert app_saw(send, f"id_token={bob}") == (f"id_token={bob}", []), "bob's session s1 is not alice's: it passes"
    bob_elsewhere = id_token(stub.issuer, sid="sx", sub="bob", iat=now - 100)
    assert app_saw(send, f"id_token={bob_elsewhere}") == (f"id_token={bob_elsewhere}", [])


class FlakyStore(MemoryStore):
    """A store whose first write fails, as Redis does while it restarts."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailableError("redis is restarting")
        super().revoke_session(iss, sid, expires_at)


def test_a_replayed_token_is_refused_and_a_retry_after_a_failure_works(stub: StubState, kind: str) -> None:
    store = FlakyStore()
    send = make(kind, stub, revocation_store=store)
    token = logout_token(stub.issuer)
    failed = post_token(send, token)
    assert (failed.status, failed.get("Retry-After")) == (503, "5"), "the store failed: the provider is to retry"
    assert not store.is_revoked(stub.issuer, "sid-1", None, time.time())
    retried = post_token(send, token)
    assert (retried.status, retried.body) == (200, b""), "the retry after the failure is recorded, not a replay"
    assert store.is_revoked(stub.issuer, "sid-1", None, time.time())
    assert error_of(post_token(send, token)) == "jti was already used", "once recorded, the same token is a replay"


def test_an_unavailable_store_gets_503_so_the_provider_retries(stub: StubState, kind: str) -> None:
    store = FlakyStore()
    send = make(kind, stub, revocation_store=store)
    token = logout_token(stub.issuer)
    first = post_token(send, token)
    assert first.status == 503
    assert json.loads(first.body)["error"] == "temporarily_unavailable"
    assert post_token(send, token).status == 200, "the retry of the same token is not a replay"
    assert store.is_revoked(stub.issuer, "sid-1", None, time.time())


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        pytest.param({"iss": "https://evil.example"}, "iss", id="wrong-issuer"),
        pytest.param({"aud": "someone-else"}, "aud", id="wrong-audience"),
        pytest.param({"events": None}, "events", id="no-event"),
        pytest.param({"events": {"http://schemas.openid.net/event/other": {}}}, "events", id="wrong-event"),
        pytest.param({"nonce": "n"}, "nonce", id="with-nonce"),
        pytest.param({"sid": None, "sub": None}, "sid", id="neither-sid-nor-sub"),
        pytest.param({"exp": int(time.time()) - 3600}, "expired", id="expired"),
        pytest.param({"iat": int(time.time()) + 3600}, "future", id="iat-in-the-future"),
        pytest.param({"exp": None}, "exp", id="no-exp"),
    ],
)
def test_each_failed_check_is_named_and_revokes_nothing(
    stub: StubState, kind: str, claims: dict[str, Any], expected: str
) -> None:
    send = make(kind, stub)
    claims = dict(claims)  # the same table row runs for both adapters
    issuer = claims.pop("iss", stub.issuer)
    assert expected in error_of(post_token(send, logout_token(issuer, **claims)))
    token = id_token(stub.issuer)
    assert app_saw(send, f"id_token={token}")[0] == f"id_token={token}"


def test_signature_and_algorithm_checks(stub: StubState, kind: str) -> None:
    send = make(kind, stub)
    good = logout_token(stub.issuer)
    header, payload, signature = good.split(".")
    tampered = f"{header}.{b64({**json.loads(base64.urlsafe_b64decode(payload + '==')), 'sid': 'x'})}.{signature}"
    assert "signature" in error_of(post_token(send, tampered))
    assert "alg" in error_of(post_token(send, logout_token(stub.issuer, alg="PS256"))), "wrong-alg, same key"
    unsigned = f"{b64({'alg': 'none'})}.{payload}."
    assert "none" in error_of(post_token(send, unsigned))
    assert "too large" in error_of(post_token(send, logout_token(stub.issuer, padding="x" * 20_000)))


def test_an_unknown_kid_refetches_the_keys(stub: StubState, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    send = make(kind, stub)
    assert post_token(send, logout_token(stub.issuer, sid="a")).status == 200
    stub.jwks = {"keys": [ROTATED.as_dict(private=False)]}
    monkeypatch.setattr("logout_middleware.specs.jwks.MIN_REFETCH_INTERVAL", 0.0)
    assert post_token(send, logout_token(stub.issuer, key=ROTATED, sid="b")).status == 200
    assert [r["path"] for r in stub.requests].count("/jwks") == 2


def test_unknown_kids_cannot_make_us_hammer_the_provider(stub: StubState, kind: str) -> None:
    send = make(kind, stub)
    assert post_token(send, logout_token(stub.issuer, sid="a")).status == 200
    # The first unknown kid is worth a refetch, even right after the routine first fetch: keys rotate any time.
    assert "kid" in error_of(post_token(send, logout_token(stub.issuer, key=ROTATED, sid="b")))
    for sid in ("c", "d"):
        answer = post_token(send, logout_token(stub.issuer, key=ROTATED, sid=sid))
        assert (answer.status, answer.get("Retry-After")) == (503, "10"), "the provider retries once we may refetch"
    assert [r["path"] for r in stub.requests].count("/jwks") == 2, "one refetch per MIN_REFETCH_INTERVAL"


@pytest.mark.parametrize(
    ("method", "headers", "body", "status"),
    [
        pytest.param("GET", {}, b"", 405, id="get"),
        pytest.param("PUT", FORM, b"logout_token=x", 405, id="put"),
        pytest.param("POST", {"Content-Type": "application/json"}, b'{"logout_token": "x"}', 415, id="json"),
        pytest.param("POST", {}, b"logout_token=x", 415, id="no-content-type"),
        pytest.param("POST", FORM, b"logout_token=" + b"x" * 70_000, 413, id="oversized-body"),
        pytest.param("POST", FORM, b"", 400, id="empty"),
        pytest.param("POST", FORM, b"logout_token=a&logout_token=b", 400, id="twice"),
        pytest.param("POST", FORM, b"logout_token=\xff", 400, id="garbage-token"),
        pytest.param("POST", FORM, "logout_token=é".encode(), 400, id="non-ascii-body"),
    ],
)
def test_request_shape(stub: StubState, kind: str, method: str, headers: dict[str, str], body: bytes,
                       status: int) -> None:  # fmt: skip
    response = make(kind, stub)(method, "/backchannel-logout", headers, body)
    assert response.status == status
    assert response.get("Cache-Control") == "no-store"


def test_charset_parameter_is_accepted(stub: StubState, kind: str) -> None:
    send = make(kind, stub)
    body = urlencode({"logout_token": logout_token(stub.issuer)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
    assert send("POST", "/backchannel-logout", headers, body).status == 200


def test_keys_unavailable_is_503(stub: StubState, kind: str) -> None:
    stub.mode = "500"
    response = post_token(make(kind, stub), logout_token(stub.issuer))
    assert response.status == 503
    assert (response.get("Retry-After"), response.get("Cache-Control")) == ("10", "no-store")
    assert json.loads(response.body) == {"error": "temporarily_unavailable", "error_description": "keys unavailable"}


# -- front-channel -------------------------------------------------------------


def front(kind: str, stub: StubState, **options: Any) -> Send:
    return make(kind, stub, backchannel_logout_path=None, frontchannel_logout_path="/frontchannel-logout", **options)


def test_frontchannel_with_matching_session(stub: StubState, kind: str) -> None:
    send = front(kind, stub)
    token = id_token(stub.issuer, sid="sid-7")
    response = send("GET", f"/frontchannel-logout?{urlencode({'iss': stub.issuer, 'sid': 'sid-7'})}",
                    {"Cookie": f"id_token={token}"})  # fmt: skip
    assert response.status == 200
    assert response.get("Cache-Control") == "no-store"
    assert response.get("Content-Security-Policy") == f"default-src 'none'; frame-ancestors {stub.issuer}"
    assert [line.split(";")[0] for line in response.get_all("Set-Cookie")] == ["id_token=", "session="]
    assert app_saw(send, f"id_token={token}")[0] == "", "revoked for every later request too"


def test_frontchannel_without_cookie_still_records_the_revocation(stub: StubState, kind: str) -> None:
    send = front(kind, stub)
    response = send("GET", f"/frontchannel-logout?{urlencode({'iss': stub.issuer, 'sid': 'sid-8'})}", {})
    assert response.status == 200
    assert response.get_all("Set-Cookie") == []
    assert app_saw(send, f"id_token={id_token(stub.issuer, sid='sid-8')}")[0] == ""


@pytest.mark.parametrize(
    "query",
    [{"iss": "https://evil.example", "sid": "s"}, {"iss": "x"}, {"sid": "s"}, {}],
    ids=["other-issuer", "iss-only", "sid-only", "neither"],
)
def test_frontchannel_refusals(stub: StubState, kind: str, query: dict[str, str]) -> None:
    query = {name: stub.issuer if value == "x" else value for name, value in query.items()}
    response = front(kind, stub)("GET", f"/frontchannel-logout?{urlencode(query)}", {})
    assert response.status == 400
    assert response.get_all("Set-Cookie") == []


def test_frontchannel_without_session_required(stub: StubState, kind: str) -> None:
    send = front(kind, stub, frontchannel_logout_session_required=False)
    response = send("GET", "/frontchannel-logout", {"Cookie": f"id_token={id_token(stub.issuer)}"})
    assert response.status == 200
    assert response.get_all("Set-Cookie") == [deletion("id_token"), deletion("session")]
    assert send("POST", "/frontchannel-logout", {}).status == 405


# -- forward-auth ----------------------------------------------------------------


def test_forward_auth(stub: StubState, kind: str) -> None:
    send = make(kind, stub, forward_auth_path="/auth")
    token = id_token(stub.issuer)
    assert send("GET", "/auth", {}).status == 204
    assert send("GET", "/auth", {"Cookie": f"id_token={token}"}).status == 204
    assert send("GET", "/auth", {"Cookie": "id_token=garbage"}).status == 401, "not a verified id_token"
    assert post_token(send, logout_token(stub.issuer)).status == 200
    refused = send("GET", "/auth", {"Cookie": f"id_token={token}"})
    assert refused.status == 401
    assert [line.split(";")[0] for line in refused.get_all("Set-Cookie")] == ["id_token=", "session="]
    assert send("POST", "/auth", {}).status == 405


def test_a_token_of_another_issuer_is_never_trusted(stub: StubState, kind: str) -> None:
    store = MemoryStore()
    send = make(kind, stub, revocation_store=store, forward_auth_path="/auth")
    assert send("GET", "/auth", {"Cookie": f"id_token={id_token('https://other.example')}"}).status == 401
    assert send("GET", "/auth", {"Cookie": f"id_token={id_token(stub.issuer)}"}).status == 204


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"backchannel_logout_path": "/b", "issuer": None, "end_session_endpoint": "https://op/e"},
            "issuer is required",
        ),
        ({"backchannel_logout_path": "/b", "client_id": None}, "client_id is required"),
        ({"backchannel_logout_path": "/logout"}, "already used"),
        ({"forward_auth_path": "auth"}, "forward_auth_path"),
        ({"revocation_store": "postgres://x"}, "revocation_store"),
        ({"max_token_lifetime": 5}, "max_token_lifetime"),
        ({"signing_algorithms": ["none"]}, "signing_algorithms"),
    ],
)
def test_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LogoutConfig(**{"issuer": "https://op.example", "client_id": "rp", **options})


class ClosedStore(MemoryStore):
    """A store that cannot answer and fails closed, as a Redis store does after its grace period."""

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        raise StoreUnavailableError("redis has been unreachable for 31 s")


def test_a_store_that_fails_closed_gets_503_not_a_traceback(stub: StubState, kind: str) -> None:
    send = make(kind, stub, revocation_store=ClosedStore(), forward_auth_path="/auth")
    cookie = {"Cookie": f"id_token={id_token(stub.issuer)}"}
    for path in ("/page", "/auth"):
        response = send("GET", path, cookie)
        assert response.status == 503
        assert response.get("X-App") is None
        assert b"cannot be checked" in response.body
    assert send("GET", "/page", {}).status == 200, "requests without an id_token cookie are not affected"


@pytest.mark.parametrize(
    ("jwks", "status", "answer"),
    [
        pytest.param(b"{not json", 200, 503, id="invalid-json"),
        pytest.param(b'{"keys": 5}', 200, 503, id="not-a-key-set"),
        pytest.param(b"[]", 200, 503, id="array"),
        pytest.param(b"{}", 404, 503, id="404"),
        pytest.param(b"{}", 500, 503, id="500"),
    ],
)
def test_unusable_keys_get_503_so_the_provider_retries(
    stub: StubState, kind: str, jwks: bytes, status: int, answer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.jwks, stub.jwks_status = jwks, status
    send = make(kind, stub)
    token = logout_token(stub.issuer)
    response = post_token(send, token)
    assert response.status == answer
    assert json.loads(response.body)["error"] == "temporarily_unavailable"
    stub.jwks, stub.jwks_status = {"keys": [KEY.as_dict(private=False)]}, 200
    assert post_token(send, token).status == 503, "no second fetch within RETRY_AFTER_FAILURE"
    monkeypatch.setattr("logout_middleware.specs.jwks.RETRY_AFTER_FAILURE", 0.0)
    assert post_token(send, token).status == 200, "the provider's retry succeeds once the keys are back"


def test_redis_going_away_does_not_take_the_app_down(stub: StubState, tmp_path: Path) -> None:
    """Fail open (the default): the local copy keeps answering; the provider is told to retry."""
    with redis_server(tmp_path / "redis") as redis:
        middleware = WsgiMiddleware(
            echo_wsgi, issuer=stub.issuer, client_id="rp", backchannel_logout_path="/backchannel-logout",
            clear_cookies=["session"], revocation_store=redis.url,
        )  # fmt: skip
        assert middleware.store is not None
        store = middleware.store.current()
        assert store.wait_until_synced(5)  # type: ignore[attr-defined]
        send = wsgi_sender(middleware)
        revoked, live = id_token(stub.issuer, sid="gone"), id_token(stub.issuer, sid="live")
        assert post_token(send, logout_token(stub.issuer, sid="gone")).status == 200
        redis.stop()
        assert app_saw(send, f"id_token={revoked}; session=s")[0] == "", "still refused from the local copy"
        assert app_saw(send, f"id_token={live}; session=s")[0] == f"id_token={live}; session=s"
        assert send("GET", "/page", {}).status == 200
        answer = post_token(send, logout_token(stub.issuer, sid="live"))
        assert answer.status == 503, "not recorded: the provider must retry"
        assert json.loads(answer.body)["error"] == "temporarily_unavailable"
        store.close()


# -- a returning session is looked up again as soon as the store has news ----------------


def test_a_returning_session_is_refused_as_soon_as_it_is_revoked(stub: StubState, kind: str) -> None:
    store = MemoryStore()
    send = make(kind, stub, revocation_store=store)
    first, second = id_token(stub.issuer, sid="s1"), id_token(stub.issuer, sid="s2")
    for _ in range(3):  # returning: settled from what the middleware remembers
        assert app_saw(send, f"id_token={first}; session=s") == (f"id_token={first}; session=s", [])
    assert post_token(send, logout_token(stub.issuer, sid="s1")).status == 200
    assert app_saw(send, f"id_token={first}; session=s") == ("", [deletion("id_token"), deletion("session")])
    assert app_saw(send, f"id_token={second}; session=s") == (f"id_token={second}; session=s", [])
    store.revoke_session(stub.issuer, "s2")  # as another instance's write reaching this one's copy
    assert app_saw(send, f"id_token={second}; session=s") == ("", [deletion("id_token"), deletion("session")])


def test_a_returning_session_is_refused_once_another_process_revokes_it(stub: StubState, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    one, other = make("wsgi", stub, revocation_store=url), make("wsgi", stub, revocation_store=url)
    cookie = f"id_token={id_token(stub.issuer, sid='s1')}; session=s"
    assert app_saw(one, cookie) == (cookie, [])
    assert app_saw(one, cookie) == (cookie, [])
    assert post_token(other, logout_token(stub.issuer, sid="s1")).status == 200
    deadline = time.monotonic() + 2.0  # the SQLite store reads what others wrote at most every 0.1 s
    while app_saw(one, cookie)[0] == cookie:
        assert time.monotonic() < deadline, "the other process's revocation never reached this one"
        time.sleep(0.02)
    assert app_saw(one, cookie) == ("", [deletion("id_token"), deletion("session")])


def test_a_returning_session_fails_closed_once_redis_is_gone_past_the_grace(stub: StubState, tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as redis:
        store = RedisStore(redis.url, fail_open=False, grace=0.3)
        try:
            assert store.wait_until_synced(5)
            send = make("wsgi", stub, revocation_store=store)
            cookie = f"id_token={id_token(stub.issuer, sid='s1')}; session=s"
            assert app_saw(send, cookie) == (cookie, [])
            assert app_saw(send, cookie) == (cookie, [])
            redis.stop()
            deadline = time.monotonic() + 5.0
            while send("GET", "/page", {"Cookie": cookie}).status == 200:
                assert time.monotonic() < deadline, "a remembered live session kept passing while Redis was gone"
                time.sleep(0.05)
            response = send("GET", "/page", {"Cookie": cookie})
            assert (response.status, response.get("X-App")) == (503, None)
        finally:
            store.close()


# -- hardening ----------------------------------------------------------------------


def test_only_the_registered_algorithm_is_accepted_even_if_the_provider_supports_more(
    stub: StubState, kind: str
) -> None:
    stub.algorithms = ["RS256", "PS256", "RS512"]
    send = make(kind, stub)
    for alg in ("PS256", "RS512"):
        assert "alg" in error_of(post_token(send, logout_token(stub.issuer, alg=alg))), alg
    assert (
        post_token(make(kind, stub, signing_algorithms=["PS256"]), logout_token(stub.issuer, alg="PS256")).status == 200
    )


def test_identifiers_longer_than_any_provider_issues_are_not_stored(stub: StubState, kind: str) -> None:
    store = MemoryStore()
    send = make(kind, stub, revocation_store=store, frontchannel_logout_path="/frontchannel-logout")
    assert "longer than 255" in error_of(post_token(send, logout_token(stub.issuer, sid="s" * 256)))
    query = urlencode({"iss": stub.issuer, "sid": "s" * 256})
    assert send("GET", f"/frontchannel-logout?{query}", {}).status == 400
    assert len(store.revocations) == 0, "nothing was recorded"


def test_unknown_kids_from_a_failing_provider_still_fetch_once_per_interval(stub: StubState, kind: str) -> None:
    stub.jwks, stub.jwks_status = b"{}", 500
    send = make(kind, stub)
    for sid in "abcdef":
        answer = post_token(send, logout_token(stub.issuer, key=ROTATED, sid=sid))
        assert (answer.status, json.loads(answer.body)["error"]) == (503, "temporarily_unavailable")
        assert int(answer.get("Retry-After") or 0) >= 1
    assert [r["path"] for r in stub.requests].count("/jwks") == 1


def test_wsgi_reads_no_body_without_content_length(stub: StubState) -> None:
    """PEP 3333: without CONTENT_LENGTH (and no wsgi.input_terminated) nothing is read, so nothing can hang."""

    class Endless:
        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the body must not be read")

    middleware = WsgiMiddleware(echo_wsgi, issuer=stub.issuer, client_id="rp", backchannel_logout_path="/bc")
    environ = Request.blank("/bc", method="POST", headers=FORM).environ
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = Endless()
    response = Request(environ).get_response(middleware)
    assert response.status_code == 400
    assert b"logout_token must be given exactly once" in response.body


def test_asgi_joins_every_cookie_header_and_covers_websockets(stub: StubState) -> None:
    """HTTP/2 clients may split cookies over several fields; a WebSocket handshake is a request too."""
    middleware = AsgiMiddleware(echo_asgi, issuer=stub.issuer, client_id="rp", backchannel_logout_path="/bc",
                                clear_cookies=["session"], revocation_store=MemoryStore())  # fmt: skip
    send = asgi_sender(middleware)
    token = id_token(stub.issuer, sid="split")
    assert (
        send("POST", "/bc", FORM, urlencode({"logout_token": logout_token(stub.issuer, sid="split")}).encode()).status
        == 200
    )
    headers = [
        (b"host", b"app.example"),
        (b"cookie", b"theme=dark"),
        (b"cookie", f"id_token={token}; session=s".encode()),
    ]
    scope = {"type": "http", "method": "GET", "path": "/page", "root_path": "", "headers": headers, "query_string": b""}
    sent = drive_asgi(middleware, scope, [{"type": "http.request"}])
    assert sent[1]["body"] == b"app saw GET /page cookie=theme=dark"
    assert [v.split(b";")[0] for n, v in sent[0]["headers"] if n == b"set-cookie"] == [b"id_token=", b"session="]

    seen: list[Any] = []

    async def socket_app(scope: Any, receive: Any, send_: Any) -> None:
        seen.append(scope["headers"])
        await send_({"type": "websocket.accept"})

    ws_scope = {"type": "websocket", "path": "/ws", "headers": headers, "scheme": "ws", "query_string": b""}
    accepted = drive_asgi(AsgiMiddleware(socket_app, middleware.config), ws_scope, [])
    assert (b"cookie", b"theme=dark") in seen[0] and not any(b"id_token" in v for _, v in seen[0])
    assert [value for name, value in accepted[0]["headers"] if name == b"set-cookie"] == [
        deletion("id_token").encode(),
        deletion("session").encode(),
    ]


def test_logout_finds_the_id_token_in_any_cookie_header() -> None:
    token = id_token("https://op.example")
    middleware = AsgiMiddleware(echo_asgi, end_session_endpoint="https://op.example/end")
    headers = [(b"host", b"app.example"), (b"cookie", b"theme=dark"), (b"cookie", f"id_token={token}".encode())]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/logout",
        "root_path": "",
        "headers": headers,
        "query_string": b"",
    }
    sent = drive_asgi(middleware, scope, [{"type": "http.request"}])
    assert dict(sent[0]["headers"])[b"location"] == f"https://op.example/end?id_token_hint={token}".encode()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"signing_algorithms": ["HS256"]}, "needs client_secret"),
        ({"signing_algorithms": ["RS265"]}, "signing_algorithms"),
    ],
)
def test_algorithm_options_that_could_never_verify_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LogoutConfig(issuer="https://op.example", client_id="rp", backchannel_logout_path="/b", **options)


def checked(stub: StubState) -> Any:
    """The per-request check of a middleware set up for back-channel logout, with the provider's keys at hand."""
    middleware = WsgiMiddleware(echo_wsgi, issuer=stub.issuer, client_id="rp", backchannel_logout_path="/bc",
                                revocation_store=MemoryStore())  # fmt: skip
    assert app_saw(wsgi_sender(middleware), f"id_token={id_token(stub.issuer)}")[1] == []  # fetches the keys
    return middleware.handler.check


def test_session_cache_keeps_neither_junk_nor_huge_cookies(stub: StubState) -> None:
    check = checked(stub)
    before = dict(check._tokens)
    for i in range(100):
        assert check.inspect(f"id_token=junk{i}").untrusted
    assert check.inspect(f"id_token={id_token(stub.issuer, sid='x' * 9000)}").refs
    assert check._tokens == before
    assert check.inspect(f"id_token={id_token(stub.issuer, sid='new')}").refs
    assert len(check._tokens) == len(before) + 1


def test_frontchannel_for_another_session_keeps_this_ones_cookies(stub: StubState, kind: str) -> None:
    send = front(kind, stub)
    token = id_token(stub.issuer, sid="sid-mine")
    response = send("GET", f"/frontchannel-logout?{urlencode({'iss': stub.issuer, 'sid': 'sid-other'})}",
                    {"Cookie": f"id_token={token}"})  # fmt: skip
    assert response.status == 200
    assert response.get_all("Set-Cookie") == []
    assert app_saw(send, f"id_token={token}")[0] == f"id_token={token}"


def test_a_secure_websocket_handshake_gets_secure_deletions(stub: StubState) -> None:
    store = MemoryStore()
    store.revoke_session(stub.issuer, "sid-1")

    async def socket_app(scope: Any, receive: Any, send_: Any) -> None:
        await send_({"type": "websocket.accept"})

    middleware = AsgiMiddleware(socket_app, issuer=stub.issuer, client_id="rp", forward_auth_path="/auth",
                                clear_cookies=["session"], revocation_store=store)  # fmt: skip
    headers = [(b"host", b"app.example"), (b"cookie", f"id_token={id_token(stub.issuer)}".encode())]
    scope = {"type": "websocket", "path": "/ws", "headers": headers, "scheme": "wss", "query_string": b""}
    accepted = drive_asgi(middleware, scope, [])
    lines = [value.decode() for name, value in accepted[0]["headers"] if name == b"set-cookie"]
    assert lines == [deletion("id_token", secure=True), deletion("session", secure=True)]


def test_the_session_cache_is_bounded(stub: StubState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "_CACHE_SIZE", 50)
    check = checked(stub)
    for i in range(60):
        assert check.inspect(f"id_token={id_token(stub.issuer, sid=f's{i}')}").refs
    assert len(check._tokens) == 50
