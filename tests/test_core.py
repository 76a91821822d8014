"""The core on its own: plain request values in, and exactly what it asks for and answers, out.

No socket, no thread, no server: :func:`tests.support.scripted.drive` runs a
flow of :class:`LogoutHandler`, answering its requests to the provider from
a :class:`ScriptedProvider` (the stand-in provider without its socket) and its
store operations from a store or a script, and records every value the flow
yielded.  So each test says what the core asked the outside world for, in
order, and what it made of the answers: the provider-started endpoints
(back channel, front channel, forward-auth), the logout, and the
per-request check (:meth:`LogoutHandler.inspect` and :meth:`LogoutHandler.verdict`).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from logout_middleware import LogoutConfig
from logout_middleware.core.handler import LogoutHandler
from logout_middleware.core.session_check import PASS, Inspection
from logout_middleware.core.values import (
    LogoutRequest,
    LookUp,
    Lookup,
    Outbound,
    RememberJti,
    Reply,
    RevokeSession,
    RevokeSubject,
    StoreOutcome,
    StoreWrite,
    Verdict,
    plain_reply,
)
from logout_middleware.specs.jws import decode_payload
from tests.support.scripted import ScriptedProvider, drive
from tests.support.tables import deletion
from tests.support.tokens import JWKS, ROTATED, b64, id_token, logout_token, unsigned

ISS = "https://op.example"
LIFETIME = 86400  # max_token_lifetime's default
DELETIONS = [("Set-Cookie", deletion("id_token")), ("Set-Cookie", deletion("session"))]
FORM = {"content-type": "application/x-www-form-urlencoded"}
BOTH_KEYS = {"keys": [*JWKS["keys"], ROTATED.as_dict(private=False)]}


def core(**options: Any) -> LogoutHandler:
    """The core of a middleware with every provider-started endpoint on."""
    return LogoutHandler(
        LogoutConfig(
            **{
                "issuer": ISS,
                "client_id": "rp",
                "backchannel_logout_path": "/bc",
                "frontchannel_logout_path": "/fc",
                "forward_auth_path": "/auth",
                "clear_cookies": ["session"],
                **options,
            }
        )
    )


def request(method: str, path: str, *, query: str = "", cookie: str = "", body: bytes = b"") -> LogoutRequest:
    """A request for one of the core's paths, as a front door hands it over (a body comes as a form)."""
    headers = FORM if body else {}
    return LogoutRequest(method, path, secure=False, host="app.example", query_string=query, headers=headers,
                         cookie=cookie, body=body)  # fmt: skip


def posted(token: str) -> LogoutRequest:
    """The provider's back-channel POST of *token*."""
    return request("POST", "/bc", body=urlencode({"logout_token": token}).encode())


def soon(seconds: float = LIFETIME) -> Any:
    """Now plus *seconds*, as the core computes it while the test runs."""
    return pytest.approx(time.time() + seconds, abs=5)


def outbound_urls(taken: list[Any]) -> list[tuple[str, str]]:
    return [(step.method, step.url) for step in taken if isinstance(step, Outbound)]


def not_outbound(taken: list[Any]) -> list[Any]:
    return [step for step in taken if not isinstance(step, Outbound)]


def scripted_store(*outcomes: StoreOutcome) -> Callable[[StoreWrite | LookUp], StoreOutcome | Lookup]:
    """A store that answers the writes with *outcomes*, in turn."""
    answers = iter(outcomes)

    def answer(step: StoreWrite | LookUp) -> StoreOutcome | Lookup:
        assert not isinstance(step, LookUp), "no lookup was scripted"
        return next(answers)

    return answer


def json_of(reply: Reply) -> Any:
    return json.loads(reply.body)


# -- back channel ------------------------------------------------------------------------------------------


def test_a_logout_token_fetches_the_keys_then_revokes_the_session_then_remembers_the_jti() -> None:
    provider, taken = ScriptedProvider(ISS), []
    reply = drive(core().handle(posted(logout_token(ISS, sid="s1", jti="j1"))), provider, taken=taken)
    assert reply == Reply(200, [("Cache-Control", "no-store"), ("Content-Length", "0")])
    assert [type(step) for step in taken] == [Outbound, Outbound, RevokeSession, RememberJti]
    assert outbound_urls(taken) == [("GET", provider.discovery_url), ("GET", provider.jwks_url)]
    assert not_outbound(taken) == [RevokeSession(ISS, "s1", soon()), RememberJti(ISS, "j1", soon())]


def test_a_logout_token_for_a_user_revokes_every_session_issued_until_its_iat() -> None:
    taken: list[Any] = []
    iat = int(time.time()) - 3
    token = logout_token(ISS, sid=None, sub="alice", iat=iat, jti="j2")
    assert drive(core().handle(posted(token)), ScriptedProvider(ISS), taken=taken).status == 200
    assert not_outbound(taken) == [RevokeSubject(ISS, "alice", iat, soon()), RememberJti(ISS, "j2", soon())]


def test_the_keys_are_fetched_once_for_many_logout_tokens() -> None:
    provider, handler, taken = ScriptedProvider(ISS), core(), []
    for sid in ("a", "b", "c"):
        assert drive(handler.handle(posted(logout_token(ISS, sid=sid))), provider, taken=taken).status == 200
    assert outbound_urls(taken) == [("GET", provider.discovery_url), ("GET", provider.jwks_url)]
    assert [step.sid for step in taken if isinstance(step, RevokeSession)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("token", "description"),
    [
        pytest.param("x", "token is not a compact JWS", id="not-a-jws"),
        pytest.param("a.b.c", "token header is not a base64url JSON object", id="header-not-json"),
        pytest.param(f"{b64({'alg': 'none'})}.{b64({'iss': ISS})}.", "alg none is not allowed", id="alg-none"),
        pytest.param(f"{b64({'alg': 'HS256'})}.{b64({})}.c2ln", "alg HS256 is not an expected algorithm", id="hmac"),
        pytest.param("e" * 20_000, "token too large", id="oversized"),
    ],
)
def test_garbage_asks_the_provider_nothing_and_writes_nothing(token: str, description: str) -> None:
    taken: list[Any] = []
    reply = drive(core().handle(posted(token)), ScriptedProvider(ISS), taken=taken)
    assert taken == []
    assert (reply.status, json_of(reply)) == (400, {"error": "invalid_request", "error_description": description})


def test_an_edited_token_is_checked_against_the_keys_and_writes_nothing() -> None:
    provider, taken = ScriptedProvider(ISS), []
    forged = unsigned(logout_token(ISS, sid="mine"), sid="victim")
    reply = drive(core().handle(posted(forged)), provider, taken=taken)
    assert outbound_urls(taken) == [("GET", provider.discovery_url), ("GET", provider.jwks_url)]
    assert not_outbound(taken) == []
    assert json_of(reply)["error_description"] == "signature does not verify"


def test_an_unknown_kid_fetches_the_keys_a_second_time() -> None:
    provider, taken = ScriptedProvider(ISS), []

    def rotating(outbound: Outbound) -> Any:
        answer = provider(outbound)
        if outbound.url == provider.jwks_url:  # the provider rotates its keys right after serving them
            provider.state.jwks = BOTH_KEYS
        return answer

    token = logout_token(ISS, key=ROTATED, sid="s1", jti="j3")
    assert drive(core().handle(posted(token)), rotating, taken=taken).status == 200
    assert outbound_urls(taken) == [
        ("GET", provider.discovery_url),
        ("GET", provider.jwks_url),
        ("GET", provider.jwks_url),
    ]
    assert not_outbound(taken) == [RevokeSession(ISS, "s1", soon()), RememberJti(ISS, "j3", soon())]


def test_a_kid_still_unknown_after_the_second_fetch_is_refused() -> None:
    provider, taken = ScriptedProvider(ISS), []
    reply = drive(core().handle(posted(logout_token(ISS, key=ROTATED))), provider, taken=taken)
    assert outbound_urls(taken) == [
        ("GET", provider.discovery_url),
        ("GET", provider.jwks_url),
        ("GET", provider.jwks_url),
    ]
    assert not_outbound(taken) == []
    assert (reply.status, json_of(reply)["error_description"]) == (400, "unknown kid")


def test_another_unknown_kid_right_after_asks_nothing_and_is_told_to_retry() -> None:
    provider, handler = ScriptedProvider(ISS), core()
    drive(handler.handle(posted(logout_token(ISS, key=ROTATED, sid="a"))), provider)
    taken: list[Any] = []
    reply = drive(handler.handle(posted(logout_token(ISS, key=ROTATED, sid="b"))), provider, taken=taken)
    assert taken == []
    assert reply.status == 503
    assert dict(reply.headers)["Retry-After"] == "10"
    assert json_of(reply) == {"error": "temporarily_unavailable", "error_description": "keys unavailable"}


@pytest.mark.parametrize("setting", [{"mode": "500"}, {"jwks_status": 500}, {"jwks": b"{not json"}])
def test_keys_that_cannot_be_had_get_503_with_retry_after_and_write_nothing(setting: dict[str, Any]) -> None:
    provider, taken = ScriptedProvider(ISS, **setting), []
    reply = drive(core().handle(posted(logout_token(ISS))), provider, taken=taken)
    assert not_outbound(taken) == []
    assert (reply.status, dict(reply.headers)["Retry-After"]) == (503, "10")
    assert json_of(reply) == {"error": "temporarily_unavailable", "error_description": "keys unavailable"}


@pytest.mark.parametrize("state", ["unavailable", "deferred"])
def test_a_revocation_the_store_did_not_write_gets_503_and_the_jti_is_not_remembered(
    state: Literal["unavailable", "deferred"],
) -> None:
    """Deferred is not enough: the provider must retry until the shared store has it."""
    taken: list[Any] = []
    token = logout_token(ISS, sid="s1")
    store = scripted_store(StoreOutcome(state, error="redis is restarting"))
    reply = drive(core().handle(posted(token)), ScriptedProvider(ISS), store_answers=store, taken=taken)
    assert not_outbound(taken) == [RevokeSession(ISS, "s1", soon())]
    assert (reply.status, dict(reply.headers)["Retry-After"]) == (503, "5")
    assert json_of(reply) == {"error": "temporarily_unavailable", "error_description": "store unavailable"}


def test_a_jti_the_store_cannot_remember_gets_503() -> None:
    taken: list[Any] = []
    store = scripted_store(StoreOutcome("written"), StoreOutcome("unavailable", error="redis is restarting"))
    token = logout_token(ISS, sid="s1", jti="j4")
    reply = drive(core().handle(posted(token)), ScriptedProvider(ISS), store_answers=store, taken=taken)
    assert not_outbound(taken) == [RevokeSession(ISS, "s1", soon()), RememberJti(ISS, "j4", soon())]
    assert (reply.status, dict(reply.headers)["Retry-After"]) == (503, "5")


def test_a_jti_the_store_saw_before_is_a_replay() -> None:
    store = scripted_store(StoreOutcome("written"), StoreOutcome("written", fresh=False))
    reply = drive(core().handle(posted(logout_token(ISS))), ScriptedProvider(ISS), store_answers=store)
    assert (reply.status, json_of(reply)["error_description"]) == (400, "jti was already used")


def test_the_retry_of_a_logout_the_store_missed_is_recorded() -> None:
    """After a 503 the provider sends the same token again: revoked first, the jti last, so it is no replay."""
    handler, provider = core(), ScriptedProvider(ISS)
    token = logout_token(ISS, sid="s1", jti="j5")
    failing = scripted_store(StoreOutcome("unavailable", error="redis is restarting"))
    assert drive(handler.handle(posted(token)), provider, store_answers=failing).status == 503
    taken: list[Any] = []
    assert drive(handler.handle(posted(token)), provider, taken=taken).status == 200
    assert taken == [RevokeSession(ISS, "s1", soon()), RememberJti(ISS, "j5", soon())]


# -- front channel -----------------------------------------------------------------------------------------

SIGNED_OUT = b"<!DOCTYPE html><title>Signed out</title>"


def page_headers(*extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Security-Policy", f"default-src 'none'; frame-ancestors {ISS}"),
        ("Cache-Control", "no-store"),
        ("Content-Length", str(len(SIGNED_OUT))),
        *extra,
    ]


def framed(cookie: str = "") -> LogoutRequest:
    return request("GET", "/fc", query=urlencode({"iss": ISS, "sid": "s7"}), cookie=cookie)


def test_the_front_channel_without_cookies_revokes_the_session_and_asks_the_provider_nothing() -> None:
    taken: list[Any] = []
    reply = drive(core().handle(framed()), ScriptedProvider(ISS), taken=taken)
    assert taken == [RevokeSession(ISS, "s7", soon())]
    assert reply == Reply(200, page_headers(), SIGNED_OUT)


def test_the_front_channel_verifies_the_sessions_cookie_and_deletes_it() -> None:
    provider, taken = ScriptedProvider(ISS), []
    reply = drive(core().handle(framed(f"id_token={id_token(ISS, sid='s7')}; session=s")), provider, taken=taken)
    assert outbound_urls(taken) == [("GET", provider.discovery_url), ("GET", provider.jwks_url)]
    assert not_outbound(taken) == [RevokeSession(ISS, "s7", soon())]
    assert reply == Reply(200, page_headers(*DELETIONS), SIGNED_OUT)


def test_a_front_channel_logout_the_store_defers_is_recorded() -> None:
    """Kept in this process and written to the shared store later: a frame is never retried, so 200."""
    store = scripted_store(StoreOutcome("deferred", error="redis is restarting"))
    assert drive(core().handle(framed()), ScriptedProvider(ISS), store_answers=store) == Reply(
        200, page_headers(), SIGNED_OUT
    )


def test_a_front_channel_logout_the_store_cannot_take_gets_503() -> None:
    store = scripted_store(StoreOutcome("unavailable", error="disk full"))
    reply = drive(core().handle(framed()), ScriptedProvider(ISS), store_answers=store)
    assert reply == plain_reply(503, "the logout could not be recorded; please try again")


def test_a_front_channel_logout_for_another_issuer_asks_and_writes_nothing() -> None:
    taken: list[Any] = []
    query = urlencode({"iss": "https://evil.example", "sid": "s7"})
    reply = drive(core().handle(request("GET", "/fc", query=query)), ScriptedProvider(ISS), taken=taken)
    assert taken == []
    assert reply == plain_reply(400, "iss is not this app's provider")


# -- forward-auth ------------------------------------------------------------------------------------------


def ref_of(token: str) -> tuple[str, str, str, float]:
    """The session a verified id_token stands for, as the store knows it: iss, sid, sub, iat."""
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return (claims["iss"], claims["sid"], claims["sub"], claims["iat"])


def test_forward_auth_without_cookies_asks_nothing_and_lets_through() -> None:
    taken: list[Any] = []
    assert drive(core().handle(request("GET", "/auth")), ScriptedProvider(ISS), taken=taken) == Reply(
        204, [("Cache-Control", "no-store")]
    )
    assert taken == []


@pytest.mark.parametrize(
    ("lookup", "reply"),
    [
        pytest.param(Lookup(revoked=False), Reply(204, [("Cache-Control", "no-store")]), id="live"),
        pytest.param(Lookup(revoked=True), plain_reply(401, "this session was signed out", *DELETIONS), id="revoked"),
        pytest.param(
            Lookup(revoked=False, unavailable="redis has been unreachable for 31 s"),
            plain_reply(503, "sign-in state cannot be checked right now; please try again"),
            id="unavailable",
        ),
    ],
)
def test_forward_auth_verifies_the_cookie_then_asks_the_store_about_its_session(lookup: Lookup, reply: Reply) -> None:
    provider, taken, token = ScriptedProvider(ISS), [], id_token(ISS, sid="s1")

    def store(step: StoreWrite | LookUp) -> Lookup:
        assert isinstance(step, LookUp)
        return lookup

    answer = drive(core().handle(request("GET", "/auth", cookie=f"id_token={token}; session=s")), provider,
                   store_answers=store, taken=taken)  # fmt: skip
    assert answer == reply
    assert outbound_urls(taken) == [("GET", provider.discovery_url), ("GET", provider.jwks_url)]
    assert not_outbound(taken) == [LookUp((ref_of(token),))]


def test_forward_auth_strips_login_cookies_without_a_verified_id_token_without_asking_the_store() -> None:
    taken: list[Any] = []
    reply = drive(core().handle(request("GET", "/auth", cookie="session=s")), ScriptedProvider(ISS), taken=taken)
    assert reply == plain_reply(401, "this session was signed out", *DELETIONS)
    assert taken == []


# -- the logout at the app ------------------------------------------------------------------------------------


def test_the_logout_verifies_the_id_token_records_its_session_and_sends_the_browser_to_the_provider() -> None:
    provider, taken, token = ScriptedProvider(ISS), [], id_token(ISS, sid="s1")
    reply = drive(core().handle(request("GET", "/logout", cookie=f"id_token={token}")), provider, taken=taken)
    assert outbound_urls(taken) == [("GET", provider.discovery_url), ("GET", provider.jwks_url)]
    assert not_outbound(taken) == [RevokeSession(ISS, "s1", soon())]
    assert (reply.status, reply.clear_session) == (303, True)
    location = urlsplit(dict(reply.headers)["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISS}/session/end"
    assert parse_qsl(location.query) == [("id_token_hint", token), ("client_id", "rp")]
    assert [value for name, value in reply.headers if name == "Set-Cookie"] == [line for _, line in DELETIONS]


def test_the_logout_of_a_forged_id_token_records_nothing() -> None:
    taken: list[Any] = []
    forged = unsigned(id_token(ISS, sid="mine"), sid="victim")
    reply = drive(core().handle(request("GET", "/logout", cookie=f"id_token={forged}")), ScriptedProvider(ISS),
                  taken=taken)  # fmt: skip
    assert reply.status == 303
    assert not_outbound(taken) == []


# -- the per-request check: inspect, then verdict -----------------------------------------------------------------


def checked(cookie: str, **options: Any) -> tuple[LogoutHandler, Inspection]:
    """A core whose keys were fetched for *cookie*, and its inspection of *cookie* then."""
    handler, provider = core(**options), ScriptedProvider(ISS)
    first = handler.inspect(cookie)
    assert first == Inspection(needs_keys=True), "no keys at hand before the first fetch"
    drive(handler.fetch_keys(), provider)
    assert [outbound.url for outbound in provider.asked] == [provider.discovery_url, provider.jwks_url]
    return handler, handler.inspect(cookie, keys_fetched=True)


def test_a_request_without_login_cookies_passes_without_asking_anything() -> None:
    handler = core()
    assert handler.inspect("theme=dark") == PASS
    assert handler.verdict(PASS, None, "theme=dark", secure=False) is None


def test_a_verified_session_is_looked_up() -> None:
    token = id_token(ISS, sid="s1")
    _, inspection = checked(f"id_token={token}; session=s")
    assert inspection == Inspection(refs=(ref_of(token),))


@pytest.mark.parametrize(
    ("lookup", "secure", "verdict"),
    [
        pytest.param(Lookup(revoked=False), False, None, id="not-revoked-passes"),
        pytest.param(Lookup(revoked=True), False, Verdict("theme=dark", DELETIONS), id="revoked-is-stripped"),
        pytest.param(
            Lookup(revoked=True),
            True,
            Verdict(
                "theme=dark",
                [("Set-Cookie", deletion("id_token", secure=True)), ("Set-Cookie", deletion("session", secure=True))],
            ),
            id="revoked-over-https-deletes-with-secure",
        ),
        pytest.param(
            Lookup(revoked=False, unavailable="redis has been unreachable for 31 s"),
            False,
            Verdict(
                "id_token={token}; session=s; theme=dark",
                [],
                reply=plain_reply(503, "sign-in state cannot be checked right now; please try again"),
            ),
            id="unavailable-fails-closed",
        ),
    ],
)
def test_the_verdict_follows_the_stores_answer(lookup: Lookup, secure: bool, verdict: Verdict | None) -> None:
    token = id_token(ISS, sid="s1")
    cookie = f"id_token={token}; session=s; theme=dark"
    handler, inspection = checked(cookie)
    if verdict is not None:
        verdict = Verdict(verdict.cookie_header.format(token=token), verdict.deletions, reply=verdict.reply)
    assert handler.verdict(inspection, lookup, cookie, secure) == verdict


def test_login_cookies_without_an_id_token_are_stripped_whatever_the_store() -> None:
    handler = core()
    inspection = handler.inspect("session=s; theme=dark")
    assert inspection == Inspection(untrusted=True)
    assert handler.verdict(inspection, None, "session=s; theme=dark", secure=False) == Verdict("theme=dark", DELETIONS)


@pytest.mark.parametrize(
    ("fail_open", "verdict"),
    [
        pytest.param(True, None, id="fails-open-by-default"),
        pytest.param(
            False,
            Verdict(
                "id_token={token}",
                [],
                reply=plain_reply(503, "sign-in state cannot be checked right now; please try again"),
            ),
            id="fails-closed-when-asked",
        ),
    ],
)
def test_keys_that_cannot_be_had_leave_the_check_to_the_fail_policy(fail_open: bool, verdict: Verdict | None) -> None:
    token = id_token(ISS, sid="s1")
    handler, provider = core(revocation_store_fail_open=fail_open), ScriptedProvider(ISS, jwks_status=500)
    drive(handler.fetch_keys(), provider)
    inspection = handler.inspect(f"id_token={token}", keys_fetched=True)
    claims = decode_payload(token, max_size=len(token))
    assert claims is not None
    # The token's own claims, unverified, to be looked up: they may refuse the request, never let it through.
    assert inspection == Inspection(refs=((ISS, "s1", "alice", claims["iat"]),), needs_keys=True)
    if verdict is not None:
        verdict = Verdict(verdict.cookie_header.format(token=token), [], reply=verdict.reply)
    live = Lookup(revoked=False)
    assert handler.verdict(inspection, live, f"id_token={token}", secure=False) == verdict
    revoked = handler.verdict(inspection, Lookup(revoked=True), f"id_token={token}; theme=dark", secure=False)
    assert revoked is not None
    assert (revoked.cookie_header, revoked.reply) == ("theme=dark", None), "stripped whatever the fail policy"


def test_an_id_token_of_an_unknown_key_asks_for_the_keys_again_then_counts_as_untrusted() -> None:
    token = id_token(ISS, sid="s1", key=ROTATED)
    handler, inspection = checked(f"id_token={token}")
    assert inspection == Inspection(untrusted=True), "fetched for this request already: the key is not the provider's"
    assert handler.inspect(f"id_token={token}") == Inspection(needs_keys=True, unknown_key=True)
