"""The behaviour table of the back-channel receiver (Back-Channel Logout 1.0), against both adapters.

The provider POSTs a signed logout token as a form; the receiver answers
200 with an empty, uncached body once the revocation is recorded, 400 with
a JSON error naming the check that failed, and 503 with ``Retry-After``
when it cannot decide now (so that the provider retries).  What a recorded
revocation does to later requests is the table of tests/test_behaviour_app_paths.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest

from logout_middleware.stores import MemoryStore
from tests.support.provider import StubState
from tests.support.tables import FORM, Answer, Case, Values, prepare_provider, row_sender, run_case
from tests.support.tokens import JWKS, ROTATED, b64, logout_token, unsigned

PATH = "/backchannel-logout"


def _payload(token: str) -> str:
    return token.split(".")[1]


#: The logout tokens the rows send, by name: what each is, as the provider (or a forger) would make it.
TOKENS: dict[str, Callable[[str], str]] = {
    "valid": lambda iss: logout_token(iss, sid="sid-1"),
    "sub-only": lambda iss: logout_token(iss, sid=None, sub="alice"),
    "aud-list-with-the-client": lambda iss: logout_token(iss, aud=["rp", "another-client"]),
    "sid-of-255": lambda iss: logout_token(iss, sid="s" * 255),
    "exp-passed-within-leeway": lambda iss: logout_token(iss, exp=int(time.time()) - 30),
    "iat-ahead-within-leeway": lambda iss: logout_token(iss, iat=int(time.time()) + 30),
    "rotated-key-in-the-set": lambda iss: logout_token(iss, key=ROTATED),
    "another-issuer": lambda iss: logout_token("https://evil.example"),
    "another-audience": lambda iss: logout_token(iss, aud="someone-else"),
    "no-events": lambda iss: logout_token(iss, events=None),
    "another-event": lambda iss: logout_token(iss, events={"http://schemas.openid.net/event/other": {}}),
    "with-nonce": lambda iss: logout_token(iss, nonce="n"),
    "neither-sid-nor-sub": lambda iss: logout_token(iss, sid=None, sub=None),
    "expired": lambda iss: logout_token(iss, exp=int(time.time()) - 3600),
    "iat-in-the-future": lambda iss: logout_token(iss, iat=int(time.time()) + 3600),
    "no-exp": lambda iss: logout_token(iss, exp=None),
    "no-iat": lambda iss: logout_token(iss, iat=None),
    "no-jti": lambda iss: logout_token(iss, jti=None),
    "sid-not-a-string": lambda iss: logout_token(iss, sid=5),
    "sid-of-256": lambda iss: logout_token(iss, sid="s" * 256),
    "sub-of-256": lambda iss: logout_token(iss, sid=None, sub="u" * 256),
    "jti-of-256": lambda iss: logout_token(iss, jti="j" * 256),
    "payload-edited": lambda iss: unsigned(logout_token(iss), sid="another-session"),
    "alg-not-registered": lambda iss: logout_token(iss, alg="PS256"),
    "alg-none": lambda iss: f"{b64({'alg': 'none'})}.{_payload(logout_token(iss))}.",
    "hmac-without-secret": lambda iss: f"{b64({'alg': 'HS256'})}.{b64({})}.c2ln",
    "unknown-key": lambda iss: logout_token(iss, key=ROTATED),
    "too-large": lambda iss: logout_token(iss, padding="x" * 20_000),
    "header-not-json": lambda iss: "a.b.c",
    "not-a-jws": lambda iss: "x",
}


def post(token: str, *, method: str = "POST", headers: dict[str, str] = FORM, **more: Any) -> Case:
    """The provider's POST of the logout token named *token*."""
    return Case(method, PATH, headers, f"logout_token={{logout_token[{token}]}}", **more)


def refused(description: str) -> Answer:
    """400, naming the check that failed (Back-Channel Logout 1.0 section 2.8)."""
    error = {"error": "invalid_request", "error_description": description}
    return Answer(400, headers={"Content-Type": "application/json"}, json=error)


def retry_later(description: str, seconds: int) -> Answer:
    """503 with Retry-After: not decided now, and the provider is to retry."""
    error = {"error": "temporarily_unavailable", "error_description": description}
    return Answer(503, headers={"Content-Type": "application/json", "Retry-After": str(seconds)}, json=error)


def plain(status: int, message: str, **headers: str) -> Answer:
    return Answer(status, headers=headers, body=f"{HTTPStatus(status).phrase}: {message}\n".encode())


#: Recorded: an empty answer that no cache keeps.
RECORDED = Answer(200, headers={"Content-Type": None, "Content-Length": "0"}, body=b"")
NOT_POST = plain(405, "back-channel logout takes POST", Allow="POST")
NOT_A_FORM = plain(415, "send application/x-www-form-urlencoded")
EXACTLY_ONCE = refused("logout_token must be given exactly once")
NOT_ASCII = refused("the body is not a form of ASCII parameters")

ROWS = [
    # -- methods ---------------------------------------------------------------------------------------
    pytest.param(Case("GET", PATH), NOT_POST, id="get-is-405"),
    pytest.param(Case("HEAD", PATH), Answer(405, headers={"Allow": "POST"}), id="head-is-405"),
    pytest.param(post("valid", method="PUT"), NOT_POST, id="put-is-405"),
    pytest.param(post("valid", method="DELETE"), NOT_POST, id="delete-is-405"),
    # -- content types ---------------------------------------------------------------------------------
    pytest.param(
        Case("POST", PATH, {"Content-Type": "application/json"}, '{{"logout_token": "x"}}'),
        NOT_A_FORM,
        id="json-is-415",
    ),
    pytest.param(post("valid", headers={"Content-Type": "text/plain"}), NOT_A_FORM, id="text-plain-is-415"),
    pytest.param(post("valid", headers={"Content-Type": "multipart/form-data"}), NOT_A_FORM, id="multipart-is-415"),
    pytest.param(post("valid", headers={}), NOT_A_FORM, id="no-content-type-is-415"),
    pytest.param(
        post("valid", headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}),
        RECORDED,
        id="charset-parameter-accepted",
    ),
    pytest.param(
        post("valid", headers={"Content-Type": "Application/X-WWW-Form-Urlencoded"}),
        RECORDED,
        id="content-type-in-any-case",
    ),
    # -- sizes -----------------------------------------------------------------------------------------
    pytest.param(
        Case("POST", PATH, FORM, b"logout_token=" + b"x" * (64 * 1024 - 13)),
        refused("token too large"),
        id="a-body-of-64-KiB-is-read",
    ),
    pytest.param(
        Case("POST", PATH, FORM, b"logout_token=" + b"x" * (64 * 1024 - 12)),
        plain(413, "a logout token is never this large"),
        id="a-body-over-64-KiB-is-413",
    ),
    pytest.param(post("too-large"), refused("token too large"), id="token-over-the-token-limit"),
    # -- the form --------------------------------------------------------------------------------------
    pytest.param(Case("POST", PATH, FORM), EXACTLY_ONCE, id="empty-body"),
    pytest.param(Case("POST", PATH, FORM, "token=x"), EXACTLY_ONCE, id="missing-logout_token"),
    pytest.param(Case("POST", PATH, FORM, "logout_token="), EXACTLY_ONCE, id="empty-logout_token"),
    pytest.param(
        Case("POST", PATH, FORM, "logout_token={logout_token[valid]}&logout_token={logout_token[valid]}"),
        EXACTLY_ONCE,
        id="duplicated-logout_token",
    ),
    pytest.param(Case("POST", PATH, FORM, "logout_token=é"), NOT_ASCII, id="non-ascii-body"),
    pytest.param(Case("POST", PATH, FORM, b"logout_token=\xff"), NOT_ASCII, id="non-utf8-body"),
    pytest.param(Case("POST", PATH, FORM, "&".join(f"p{i}=1" for i in range(65))), NOT_ASCII, id="more-than-64-fields"),
    pytest.param(
        Case("POST", PATH, FORM, "state=x&logout_token={logout_token[valid]}&extra="),
        RECORDED,
        id="other-fields-ignored",
    ),
    # -- each check of the token -----------------------------------------------------------------------
    pytest.param(post("not-a-jws"), refused("token is not a compact JWS"), id="not-a-jws"),
    pytest.param(post("header-not-json"), refused("token header is not a base64url JSON object"), id="header-not-json"),
    pytest.param(post("alg-none"), refused("alg none is not allowed"), id="alg-none"),
    pytest.param(
        post("alg-not-registered"), refused("alg PS256 is not an expected algorithm"), id="alg-not-registered"
    ),
    pytest.param(
        post("hmac-without-secret"), refused("alg HS256 is not an expected algorithm"), id="hmac-without-secret"
    ),
    pytest.param(post("payload-edited"), refused("signature does not verify"), id="payload-edited"),
    pytest.param(post("unknown-key"), refused("unknown kid"), id="unknown-key-after-fetching-the-set-again"),
    pytest.param(post("another-issuer"), refused("iss is not the expected issuer"), id="another-issuer"),
    pytest.param(post("another-audience"), refused("aud does not contain the client_id"), id="another-audience"),
    pytest.param(post("no-events"), refused("events claim is missing or not an object"), id="no-events"),
    pytest.param(
        post("another-event"),
        refused("events claim lacks http://schemas.openid.net/event/backchannel-logout"),
        id="another-event",
    ),
    pytest.param(post("with-nonce"), refused("nonce must not be present"), id="with-nonce"),
    pytest.param(post("neither-sid-nor-sub"), refused("neither sid nor sub"), id="neither-sid-nor-sub"),
    pytest.param(post("sid-not-a-string"), refused("sid is not a non-empty string"), id="sid-not-a-string"),
    pytest.param(post("expired"), refused("token expired"), id="expired"),
    pytest.param(post("iat-in-the-future"), refused("iat is in the future"), id="iat-in-the-future"),
    pytest.param(post("no-exp"), refused("exp is missing"), id="no-exp"),
    pytest.param(post("no-iat"), refused("iat is missing or not a number"), id="no-iat"),
    pytest.param(post("no-jti"), refused("jti is missing"), id="no-jti"),
    pytest.param(post("sid-of-256"), refused("sid is longer than 255 characters"), id="sid-longer-than-255"),
    pytest.param(post("sub-of-256"), refused("sub is longer than 255 characters"), id="sub-longer-than-255"),
    pytest.param(post("jti-of-256"), refused("jti is longer than 255 characters"), id="jti-longer-than-255"),
    pytest.param(post("valid", before=[(post("valid"), 200)]), refused("jti was already used"), id="replayed"),
    # -- recorded --------------------------------------------------------------------------------------
    pytest.param(post("valid"), RECORDED, id="valid-token-for-a-session"),
    pytest.param(post("sub-only"), RECORDED, id="valid-token-for-every-session-of-a-user"),
    pytest.param(post("aud-list-with-the-client"), RECORDED, id="aud-list-with-the-client"),
    pytest.param(post("sid-of-255"), RECORDED, id="sid-of-255"),
    pytest.param(post("exp-passed-within-leeway"), RECORDED, id="exp-passed-within-leeway"),
    pytest.param(post("iat-ahead-within-leeway"), RECORDED, id="iat-ahead-within-leeway"),
    pytest.param(post("valid", before=[(post("sub-only"), 200)]), RECORDED, id="another-token-after-one-was-recorded"),
    pytest.param(
        post("rotated-key-in-the-set", provider={"jwks": {"keys": [*JWKS["keys"], ROTATED.as_dict(private=False)]}}),
        RECORDED,
        id="signed-with-a-second-key-of-the-set",
    ),
    # -- the provider's keys cannot be had -----------------------------------------------------------------
    pytest.param(post("valid", provider={"mode": "500"}), retry_later("keys unavailable", 10), id="discovery-fails"),
    pytest.param(post("valid", provider={"jwks_status": 500}), retry_later("keys unavailable", 10), id="jwks-fails"),
    pytest.param(
        post("valid", provider={"jwks": b"{not json"}), retry_later("keys unavailable", 10), id="jwks-not-json"
    ),
]


@pytest.mark.parametrize(("case", "answer"), ROWS)
def test_backchannel_logout(kind: str, module_stub: StubState, case: Case, answer: Answer) -> None:
    prepare_provider(module_stub, case)
    send = row_sender(
        kind, case, issuer=module_stub.issuer, client_id="rp", backchannel_logout_path=PATH,
        clear_cookies=["session"], revocation_store=MemoryStore(),
    )  # fmt: skip
    values = Values(issuer=module_stub.issuer, logout_tokens=TOKENS)
    answer.check(run_case(send, case, values), values)
