"""Hostile input through both adapters: whatever a client sends, a short answer and never a 5xx.

Hypothesis builds paths, query strings, Cookie headers (forged and
oversized tokens, duplicates, odd bytes) and back-channel bodies, and
sends them to a middleware with every path of its own turned on and the
revocation check on.  The provider is up and its keys reachable, so no
answer may be a 5xx, but for the 503 a browser prefetch gets.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from logout_middleware import LogoutConfig
from logout_middleware.specs.logout_token import LogoutTokenError, validate_logout_token
from logout_middleware.stores import MemoryStore
from tests.support.provider import StubState, provider_stub
from tests.support.tokens import JWKS, id_token, logout_token
from tests.support.transports import Send, middleware_sender

#: The largest back-channel body read (64 KiB); a larger one gets 413.
MAX_BODY = 64 * 1024
PATHS = ["/logout", "/logout/callback", "/bc", "/fc", "/auth", "/page", "/logout/", "//logout", "/"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def provider() -> Iterator[StubState]:
    with provider_stub() as stub:
        stub.jwks = JWKS
        yield stub


@pytest.fixture
def send(kind: str, provider: StubState) -> Send:
    return middleware_sender(
        kind,
        issuer=provider.issuer,
        client_id="rp",
        post_logout_redirect_uri="https://app.example/logout/callback",
        logout_callback_path="/logout/callback",
        backchannel_logout_path="/bc",
        frontchannel_logout_path="/fc",
        forward_auth_path="/auth",
        clear_cookies=["session"],
        revocation_store=MemoryStore(),
    )


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


NONE_HEADER = b64(b'{"alg":"none"}')
latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters=";"), max_size=60)
numbers = st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**400), st.floats(allow_nan=True))
#: Odd numbers, and times around now, so that some of the tokens made with them are valid.
times = st.one_of(
    numbers,
    st.integers(min_value=int(time.time()) - 3600, max_value=int(time.time()) + 3600),
    st.floats(min_value=time.time() - 3600, max_value=time.time() + 3600),
)
claims = st.dictionaries(
    st.sampled_from(["iss", "sid", "sub", "aud", "iat", "exp", "nonce", "events", "jti"]),
    st.one_of(latin1, numbers, st.none(), st.lists(latin1, max_size=3), st.dictionaries(latin1, latin1, max_size=2)),
    max_size=8,
)


@st.composite
def tokens(draw: st.DrawFn) -> str:
    """Things a client may put where a token goes: junk, forged payloads on a real signature, real tokens."""
    issuer = "http://127.0.0.1"  # another port than the stub's: a foreign token
    kind = draw(st.sampled_from(["junk", "forged", "real", "huge", "unsigned"]))
    if kind == "junk":
        return draw(
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";,"), max_size=80)
        )
    if kind == "huge":
        return "eyJ" + "A" * draw(st.integers(min_value=1000, max_value=70_000))
    payload = b64(json.dumps(draw(claims), default=str).encode())
    if kind == "unsigned":
        return f"{NONE_HEADER}.{payload}."
    real = id_token(issuer, sid=draw(latin1.filter(bool)) or "s")
    header, _, signature = real.split(".")
    return real if kind == "real" else f"{header}.{payload}.{signature}"


@st.composite
def cookie_headers(draw: st.DrawFn) -> str:
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(["id_token", "session", "logout_state", "theme", "id_token "]), tokens()),
            max_size=4,
        )
    )
    return "; ".join(f"{name}={value}" for name, value in pairs)


queries = st.lists(
    st.tuples(
        st.sampled_from(["state", "iss", "sid", "return_to", "redirect_uri", "x"]),
        st.one_of(latin1, st.sampled_from(["/..//evil.example", "%ff", "//evil", "/\\evil", "\r\nX: y"])),
    ),
    max_size=5,
)


def assert_answered(response: Any, path: str) -> None:
    assert response.status < 500 or (response.status == 503 and b"prefetch" in response.body), (
        path,
        response.status,
        response.body[:200],
    )
    assert b"Traceback" not in response.body


@SETTINGS
@given(path=st.sampled_from(PATHS), query=queries, cookie=cookie_headers(), method=st.sampled_from(["GET", "POST"]))
def test_paths_queries_and_cookies(
    send: Send, path: str, query: list[tuple[str, str]], cookie: str, method: str
) -> None:
    target = path + (
        "?" + "&".join(f"{quote(name)}={quote(value, safe='%')}" for name, value in query) if query else ""
    )
    headers = {"Cookie": cookie.encode("latin-1").decode("latin-1")} if cookie else {}
    assert_answered(send(method, target, headers), path)


@SETTINGS
@given(token=tokens(), extra=st.binary(max_size=200))
def test_backchannel_bodies(send: Send, token: str, extra: bytes) -> None:
    body = b"logout_token=" + quote(token).encode() + b"&" + extra
    response = send("POST", "/bc", {"Content-Type": "application/x-www-form-urlencoded"}, body)
    assert_answered(response, "/bc")
    # None of these is a logout token of the provider's: refused, or too large to read.
    assert response.status == (413 if len(body) > MAX_BODY else 400), response.body


@SETTINGS
@given(sid=latin1, iat=times, exp=times)
def test_logout_tokens_signed_by_the_provider_with_odd_claims(
    send: Send, provider: StubState, sid: str, iat: Any, exp: Any
) -> None:
    token = logout_token(provider.issuer, sid=sid or None, sub="u", iat=iat, exp=exp)
    before = is_valid_logout_token(token, provider.issuer, time.time() - 1)
    response = send(
        "POST", "/bc", {"Content-Type": "application/x-www-form-urlencoded"}, b"logout_token=" + token.encode()
    )
    after = is_valid_logout_token(token, provider.issuer, time.time() + 1)
    assume(before == after)  # not within a second of a time the validity changes at
    assert_answered(response, "/bc")
    # The receiver takes exactly the tokens that Back-Channel Logout 1.0 section 2.6 (the validator) accepts.
    assert response.status == (200 if before else 400), response.body


def is_valid_logout_token(token: str, issuer: str, now: float) -> bool:
    defaults = LogoutConfig(issuer=issuer, client_id="rp", backchannel_logout_path="/bc")
    try:
        validate_logout_token(
            token,
            jwks=JWKS,
            issuer=issuer,
            client_id="rp",
            now=now,
            leeway=defaults.logout_token_leeway,
            accept_missing_exp_max_age=defaults.logout_token_max_age_without_exp,
        )
    except LogoutTokenError:
        return False
    return True
