"""The behaviour table of the front-channel receiver (Front-Channel Logout 1.0), against both adapters.

The provider's page loads ours in an iframe, with ``iss`` and ``sid``.  The
session is recorded as revoked whatever cookies come (browsers that block
third-party cookies send none in the frame); the login cookies are deleted
only when they are that session's, verified.  What a recorded revocation
does to later requests is the table of tests/test_behaviour_app_paths.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import pytest

from logout_middleware.stores import MemoryStore
from tests.support.provider import StubState
from tests.support.tables import Answer, Case, Values, deletion, prepare_provider, row_sender, run_case
from tests.support.tokens import id_token, unsigned

PATH = "/frontchannel-logout"
SIGNED_OUT_PAGE = b"<!DOCTYPE html><title>Signed out</title>"
DELETIONS = (deletion("id_token"), deletion("session"))
SECURE_DELETIONS = (deletion("id_token", secure=True), deletion("session", secure=True))

#: The id_tokens in the rows' cookies, by name.
TOKENS: dict[str, Callable[[str], str]] = {
    "sid-7": lambda iss: id_token(iss, sid="sid-7"),
    "sid-mine": lambda iss: id_token(iss, sid="sid-mine"),
    "forged-sid-7": lambda iss: unsigned(id_token(iss, sid="sid-mine"), sid="sid-7"),
    "other-issuer-sid-7": lambda iss: id_token("https://other.example", sid="sid-7"),
}


def frame(query: str, cookie: str | None = None, **more: Any) -> Case:
    """The provider's iframe loading ``PATH?query``, with the browser's *cookie* if it sends one."""
    return Case(more.pop("method", "GET"), f"{PATH}?{query}", {"Cookie": cookie} if cookie else {}, **more)


def signed_out(set_cookies: Sequence[str] = (), *, body: bytes | None = SIGNED_OUT_PAGE) -> Answer:
    """The signed-out page, which only the provider may frame."""
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors {issuer}",
        "Content-Length": str(len(SIGNED_OUT_PAGE)),
    }
    return Answer(200, set_cookies, headers=headers, body=body)


def refused(message: str) -> Answer:
    return Answer(400, headers={"Content-Type": "text/plain; charset=utf-8"}, body=f"Bad Request: {message}\n")


THAT_SESSION = "iss={iss}&sid=sid-7"
ITS_COOKIE = "id_token={id_token[sid-7]}; session=s; theme=dark"

ROWS = [
    # -- iss and sid name the session -------------------------------------------------------------------
    pytest.param(frame(THAT_SESSION, ITS_COOKIE), signed_out(DELETIONS), id="with-that-sessions-cookie"),
    pytest.param(
        frame(THAT_SESSION, ITS_COOKIE, scheme="https"),
        signed_out(SECURE_DELETIONS),
        id="with-that-sessions-cookie-over-https",
    ),
    pytest.param(frame(THAT_SESSION), signed_out(), id="without-cookies"),
    pytest.param(
        frame(THAT_SESSION, "id_token={id_token[sid-mine]}; session=s"),
        signed_out(),
        id="with-another-sessions-cookie",
    ),
    pytest.param(
        frame(THAT_SESSION, "id_token={id_token[forged-sid-7]}; session=s"),
        signed_out(),
        id="with-a-forged-cookie-naming-that-session",
    ),
    pytest.param(
        frame(THAT_SESSION, "id_token={id_token[other-issuer-sid-7]}; session=s"),
        signed_out(),
        id="with-another-issuers-cookie-naming-that-session",
    ),
    pytest.param(frame(THAT_SESSION, "session=s"), signed_out(), id="with-a-login-cookie-but-no-id_token"),
    pytest.param(
        frame(THAT_SESSION, ITS_COOKIE, provider={"jwks_status": 500}),
        signed_out(),
        id="keys-unavailable-records-and-deletes-nothing",
    ),
    pytest.param(frame(f"iss={{iss}}&sid={'s' * 255}"), signed_out(), id="sid-of-255"),
    pytest.param(frame(THAT_SESSION, ITS_COOKIE, method="HEAD"), signed_out(DELETIONS, body=None), id="head"),
    # -- refused ------------------------------------------------------------------------------------------
    pytest.param(frame("iss={iss}", ITS_COOKIE), refused("iss and sid come together or not at all"), id="iss-only"),
    pytest.param(frame("sid=sid-7", ITS_COOKIE), refused("iss and sid come together or not at all"), id="sid-only"),
    pytest.param(
        frame("iss={iss}&sid=", ITS_COOKIE), refused("iss and sid come together or not at all"), id="empty-sid"
    ),
    pytest.param(
        Case("GET", PATH, {"Cookie": ITS_COOKIE}), refused("iss and sid are required"), id="neither-when-required"
    ),
    pytest.param(
        frame("iss=https%3A%2F%2Fevil.example&sid=sid-7", ITS_COOKIE),
        refused("iss is not this app's provider"),
        id="another-issuer",
    ),
    pytest.param(
        frame("iss={iss}%2F&sid=sid-7", ITS_COOKIE), refused("iss is not this app's provider"), id="issuer-with-a-slash"
    ),
    pytest.param(
        frame(f"iss={{iss}}&sid={'s' * 256}"), refused("sid is longer than 255 characters"), id="sid-longer-than-255"
    ),
    pytest.param(
        frame("iss={iss}&sid=sid-7&sid=sid-8", ITS_COOKIE), refused("sid is given more than once"), id="sid-twice"
    ),
    pytest.param(
        frame(THAT_SESSION, ITS_COOKIE, method="POST"),
        Answer(405, headers={"Allow": "GET, HEAD"}, body=b"Method Not Allowed: front-channel logout takes GET\n"),
        id="post-is-405",
    ),
    # -- when the provider sends no session (frontchannel_logout_session_required=False) ------------------
    pytest.param(
        Case("GET", PATH, {"Cookie": ITS_COOKIE}, options={"frontchannel_logout_session_required": False}),
        signed_out(DELETIONS),
        id="not-required-neither-deletes-the-cookies-that-came",
    ),
    pytest.param(
        Case("GET", PATH, options={"frontchannel_logout_session_required": False}),
        signed_out(DELETIONS),
        id="not-required-neither-and-no-cookies-deletes-all-the-same",
    ),
    pytest.param(
        frame(THAT_SESSION, ITS_COOKIE, options={"frontchannel_logout_session_required": False}),
        signed_out(DELETIONS),
        id="not-required-iss-and-sid-with-that-sessions-cookie",
    ),
    pytest.param(
        frame(
            THAT_SESSION,
            "id_token={id_token[sid-mine]}; session=s",
            options={"frontchannel_logout_session_required": False},
        ),
        signed_out(),
        id="not-required-iss-and-sid-keep-another-sessions-cookies",
    ),
]


@pytest.mark.parametrize(("case", "answer"), ROWS)
def test_frontchannel_logout(kind: str, module_stub: StubState, case: Case, answer: Answer) -> None:
    prepare_provider(module_stub, case)
    send = row_sender(
        kind, case, issuer=module_stub.issuer, client_id="rp", frontchannel_logout_path=PATH,
        clear_cookies=["session"], revocation_store=MemoryStore(),
    )  # fmt: skip
    values = Values(issuer=module_stub.issuer, id_tokens=TOKENS, iss=quote(module_stub.issuer, safe=""))
    answer.check(run_case(send, case, values), values)
