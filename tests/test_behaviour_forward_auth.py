"""The behaviour table of forward-auth (``forward_auth_path``), against both adapters.

A reverse proxy (nginx ``auth_request``, Traefik ``ForwardAuth``) asks before
each request to the apps behind it, passing the request's cookies: ``204``
lets it through, ``401`` with the deleting ``Set-Cookie`` lines stops a
session that was signed out or login cookies without a verified id_token,
``503`` when the check cannot be made and is set to fail closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from logout_middleware import CookieSpec
from logout_middleware.errors import StoreUnavailableError
from logout_middleware.stores import MemoryStore
from tests.support.provider import StubState
from tests.support.tables import FORM, Answer, Case, Values, deletion, prepare_provider, row_sender, run_case
from tests.support.tokens import ROTATED, id_token, logout_token, unsigned

PATH = "/auth"
DELETIONS = (deletion("id_token"), deletion("session"))

#: The id_tokens in the rows' cookies, by name.
ID_TOKENS: dict[str, Callable[[str], str]] = {
    "alice-s1": lambda iss: id_token(iss, sid="s1"),
    "alice-s2": lambda iss: id_token(iss, sid="s2"),
    "bob-s1": lambda iss: id_token(iss, sid="s1", sub="bob"),
    "alice-later": lambda iss: id_token(iss, sid="s9", iat=time.time() + 100),
    "expired-token-of-a-live-session": lambda iss: id_token(iss, sid="s1", exp=1),
    "edited": lambda iss: unsigned(id_token(iss, sid="s-mine"), sid="s1"),
    "other-issuer": lambda iss: id_token("https://other.example", sid="s1"),
    "other-client": lambda iss: id_token(iss, sid="s1", aud="another-client"),
    "unknown-key": lambda iss: id_token(iss, sid="s1", key=ROTATED),
}
#: The logout tokens the provider sends first, by name.
LOGOUT_TOKENS: dict[str, Callable[[str], str]] = {
    "s1": lambda iss: logout_token(iss, sid="s1"),
    "alice": lambda iss: logout_token(iss, sid=None, sub="alice"),
}
REVOKE_S1 = (Case("POST", "/backchannel-logout", FORM, "logout_token={logout_token[s1]}"), 200)
REVOKE_ALICE = (Case("POST", "/backchannel-logout", FORM, "logout_token={logout_token[alice]}"), 200)


class ClosedStore(MemoryStore):
    """A store that cannot answer and fails closed, as a Redis store does past its grace period."""

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        raise StoreUnavailableError("redis has been unreachable for 31 s")


def asked(cookie: str | None = None, **more: Any) -> Case:
    """The proxy's question about a request that came with *cookie*."""
    return Case(more.pop("method", "GET"), more.pop("target", PATH), {"Cookie": cookie} if cookie else {}, **more)


LET_THROUGH = Answer(204, headers={"Content-Type": None}, body=b"")
UNAVAILABLE = Answer(
    503,
    headers={"Content-Type": "text/plain; charset=utf-8"},
    body=b"Service Unavailable: sign-in state cannot be checked right now; please try again\n",
)


def stopped(set_cookies: Sequence[str] = DELETIONS, *, body: bool = True) -> Answer:
    """401, with the lines that delete the login cookies for the browser."""
    message = b"Unauthorized: this session was signed out\n" if body else None
    return Answer(401, set_cookies, headers={"Content-Type": "text/plain; charset=utf-8"}, body=message)


ALICE_S1 = "id_token={id_token[alice-s1]}; session=s; theme=dark"

ROWS = [
    # -- let through ------------------------------------------------------------------------------------
    pytest.param(asked(), LET_THROUGH, id="no-cookie"),
    pytest.param(asked("theme=dark; lang=de"), LET_THROUGH, id="no-login-cookies"),
    pytest.param(asked(ALICE_S1), LET_THROUGH, id="live-session"),
    pytest.param(asked("id_token={id_token[alice-s1]}"), LET_THROUGH, id="live-id_token-alone"),
    pytest.param(
        asked("id_token={id_token[alice-s1]}; id_token={id_token[alice-s2]}"), LET_THROUGH, id="two-live-id_tokens"
    ),
    pytest.param(
        asked("id_token={id_token[expired-token-of-a-live-session]}; session=s"),
        LET_THROUGH,
        id="expired-id_token-of-a-live-session",
    ),
    pytest.param(asked(ALICE_S1, target=f"{PATH}?rd=/shop"), LET_THROUGH, id="query-ignored"),
    pytest.param(asked(method="HEAD"), Answer(204, headers={"Content-Type": None}), id="head-no-cookie"),
    pytest.param(
        asked("id_token={id_token[alice-s2]}; session=s", before=[REVOKE_S1]),
        LET_THROUGH,
        id="another-session-of-the-user-after-its-sid-logout",
    ),
    pytest.param(
        asked("id_token={id_token[bob-s1]}; session=s", before=[REVOKE_ALICE]),
        LET_THROUGH,
        id="same-sid-of-another-user-after-a-user-logout",
    ),
    pytest.param(
        asked("id_token={id_token[alice-later]}; session=s", before=[REVOKE_ALICE]),
        LET_THROUGH,
        id="a-later-sign-in-after-a-user-logout",
    ),
    pytest.param(
        asked("session=s", options={"login_cookies_need_id_token": False}),
        LET_THROUGH,
        id="login-cookie-alone-when-the-rule-is-off",
    ),
    pytest.param(
        asked(ALICE_S1, provider={"jwks_status": 500}), LET_THROUGH, id="keys-unavailable-fails-open-by-default"
    ),
    # -- stopped: signed out ----------------------------------------------------------------------------
    pytest.param(asked(ALICE_S1, before=[REVOKE_S1]), stopped(), id="revoked-by-sid"),
    pytest.param(asked(ALICE_S1, before=[REVOKE_ALICE]), stopped(), id="revoked-by-sub"),
    pytest.param(
        asked("id_token={id_token[alice-s2]}; id_token={id_token[alice-s1]}", before=[REVOKE_S1]),
        stopped(),
        id="a-revoked-id_token-beside-a-live-one",
    ),
    pytest.param(
        asked(ALICE_S1, before=[REVOKE_S1], scheme="https"),
        stopped([deletion("id_token", secure=True), deletion("session", secure=True)]),
        id="revoked-over-https-deletes-with-secure",
    ),
    pytest.param(
        asked(
            ALICE_S1,
            before=[REVOKE_S1],
            options={
                "clear_cookies": ["session", CookieSpec("sso", domain="example.test"), CookieSpec("api", path="/api")]
            },
        ),
        stopped(
            [
                deletion("id_token"),
                deletion("session"),
                deletion("sso", domain="example.test"),
                deletion("api", path="/api"),
            ]
        ),
        id="revoked-deletes-each-login-cookie-where-it-lives",
    ),
    pytest.param(asked(ALICE_S1, before=[REVOKE_S1], method="HEAD"), stopped(body=False), id="head-revoked"),
    # -- stopped: login cookies without a verified id_token -------------------------------------------------
    pytest.param(asked("session=s; theme=dark"), stopped(), id="login-cookie-without-id_token"),
    pytest.param(asked("id_token=garbage; session=s"), stopped(), id="id_token-not-a-token"),
    pytest.param(asked("id_token={id_token[edited]}; session=s"), stopped(), id="id_token-edited"),
    pytest.param(asked("id_token={id_token[other-issuer]}; session=s"), stopped(), id="id_token-of-another-issuer"),
    pytest.param(asked("id_token={id_token[other-client]}; session=s"), stopped(), id="id_token-for-another-client"),
    pytest.param(
        asked("id_token={id_token[unknown-key]}; session=s"), stopped(), id="id_token-signed-by-an-unknown-key"
    ),
    pytest.param(
        asked("id_token=garbage; id_token={id_token[alice-s1]}"), stopped(), id="garbage-beside-a-live-id_token"
    ),
    # -- the check cannot be made ---------------------------------------------------------------------------
    pytest.param(
        asked(ALICE_S1, provider={"jwks_status": 500}, options={"revocation_store_fail_open": False}),
        UNAVAILABLE,
        id="keys-unavailable-fails-closed-when-asked",
    ),
    pytest.param(asked(ALICE_S1, options={"revocation_store": ClosedStore()}), UNAVAILABLE, id="store-fails-closed"),
    pytest.param(
        asked("theme=dark", options={"revocation_store": ClosedStore()}),
        LET_THROUGH,
        id="store-fails-closed-no-session-to-look-up",
    ),
    # -- methods ------------------------------------------------------------------------------------------
    pytest.param(
        asked(ALICE_S1, method="POST"),
        Answer(405, headers={"Allow": "GET, HEAD"}, body=b"Method Not Allowed: forward auth takes GET\n"),
        id="post-is-405",
    ),
]


@pytest.mark.parametrize(("case", "answer"), ROWS)
def test_forward_auth(kind: str, module_stub: StubState, case: Case, answer: Answer) -> None:
    prepare_provider(module_stub, case)
    send = row_sender(
        kind, case, issuer=module_stub.issuer, client_id="rp", forward_auth_path=PATH,
        backchannel_logout_path="/backchannel-logout", clear_cookies=["session"], revocation_store=MemoryStore(),
    )  # fmt: skip
    values = Values(issuer=module_stub.issuer, id_tokens=ID_TOKENS, logout_tokens=LOGOUT_TOKENS)
    answer.check(run_case(send, case, values), values)
