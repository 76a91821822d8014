"""The behaviour table of the per-request check on the app's own paths, against both adapters.

While revocations are checked, a request for any other path still goes to
the app; but one that belongs to a session signed out (by the back channel,
the front channel or ``/logout``), or that brings login cookies without a
verified id_token, reaches it without its login cookies, and the app's answer
gets the lines that delete them.  A WebSocket handshake is checked the same
way (the ASGI adapter only: WSGI has none).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import pytest

from logout_middleware.asgi import LogoutMiddleware as AsgiMiddleware
from logout_middleware.errors import StoreUnavailableError
from logout_middleware.stores import MemoryStore
from tests.support.provider import StubState
from tests.support.tables import FORM, Answer, Case, Values, deletion, prepare_provider, row_sender, run_case
from tests.support.tokens import ROTATED, id_token, logout_token, unsigned
from tests.support.transports import asgi_sender, drive_asgi

DELETIONS = (deletion("id_token"), deletion("session"))
SECURE_DELETIONS = (deletion("id_token", secure=True), deletion("session", secure=True))

#: The id_tokens in the rows' cookies, by name.
ID_TOKENS: dict[str, Callable[[str], str]] = {
    "alice-s1": lambda iss: id_token(iss, sid="s1"),
    "alice-s2": lambda iss: id_token(iss, sid="s2"),
    "bob-s1": lambda iss: id_token(iss, sid="s1", sub="bob"),
    "alice-later": lambda iss: id_token(iss, sid="s9", iat=time.time() + 100),
    "edited": lambda iss: unsigned(id_token(iss, sid="s-mine"), sid="s1"),
    "other-issuer": lambda iss: id_token("https://other.example", sid="s1"),
    "unknown-key": lambda iss: id_token(iss, sid="s1", key=ROTATED),
}
#: The logout tokens the provider sends first, by name.
LOGOUT_TOKENS: dict[str, Callable[[str], str]] = {
    "s1": lambda iss: logout_token(iss, sid="s1"),
    "alice": lambda iss: logout_token(iss, sid=None, sub="alice"),
}
BACK_CHANNEL_S1 = (Case("POST", "/backchannel-logout", FORM, "logout_token={logout_token[s1]}"), 200)
BACK_CHANNEL_ALICE = (Case("POST", "/backchannel-logout", FORM, "logout_token={logout_token[alice]}"), 200)
FRONT_CHANNEL_S1 = (Case("GET", "/frontchannel-logout?iss={iss}&sid=s1"), 200)
ALICE_S1 = "id_token={id_token[alice-s1]}; session=s; theme=dark"
LOGOUT_S1 = (Case("GET", "/logout", {"Cookie": ALICE_S1}), 303)


def mounted(step: tuple[Case, int], root_path: str) -> tuple[Case, int]:
    """The same request to an app mounted at *root_path*."""
    case, status = step
    return dataclasses.replace(case, target=root_path + case.target), status


class ClosedStore(MemoryStore):
    """A store that cannot answer and fails closed, as a Redis store does past its grace period."""

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        raise StoreUnavailableError("redis has been unreachable for 31 s")


def page(cookie: str | None = None, **more: Any) -> Case:
    """A request for one of the app's pages, with *cookie*."""
    return Case(more.pop("method", "GET"), more.pop("target", "/page"), {"Cookie": cookie} if cookie else {}, **more)


def reached(cookie: str, set_cookies: Sequence[str] = ()) -> Answer:
    """The app answered, having seen *cookie*; the middleware added *set_cookies*."""
    return Answer(200, set_cookies, cache_control=None, app_cookie=cookie)


UNTOUCHED = reached(ALICE_S1)
STRIPPED = reached("theme=dark", DELETIONS)
UNAVAILABLE = Answer(
    503,
    headers={"Content-Type": "text/plain; charset=utf-8"},
    body=b"Service Unavailable: sign-in state cannot be checked right now; please try again\n",
)

ROWS = [
    # -- passed through untouched ------------------------------------------------------------------------
    pytest.param(page(), reached(""), id="no-cookie"),
    pytest.param(page("theme=dark; lang=de"), reached("theme=dark; lang=de"), id="no-login-cookies"),
    pytest.param(page(ALICE_S1), UNTOUCHED, id="live-session"),
    pytest.param(page(ALICE_S1, method="POST"), UNTOUCHED, id="live-session-post"),
    pytest.param(
        page("id_token={id_token[alice-s2]}; session=s", before=[BACK_CHANNEL_S1]),
        reached("id_token={id_token[alice-s2]}; session=s"),
        id="another-session-of-the-user-after-its-sid-logout",
    ),
    pytest.param(
        page("id_token={id_token[bob-s1]}; session=s", before=[BACK_CHANNEL_ALICE]),
        reached("id_token={id_token[bob-s1]}; session=s"),
        id="same-sid-of-another-user-after-a-user-logout",
    ),
    pytest.param(
        page("id_token={id_token[alice-later]}; session=s", before=[BACK_CHANNEL_ALICE]),
        reached("id_token={id_token[alice-later]}; session=s"),
        id="a-later-sign-in-after-a-user-logout",
    ),
    pytest.param(
        page("session=s; theme=dark", options={"login_cookies_need_id_token": False}),
        reached("session=s; theme=dark"),
        id="login-cookie-alone-when-the-rule-is-off",
    ),
    pytest.param(page(ALICE_S1, provider={"jwks_status": 500}), UNTOUCHED, id="keys-unavailable-fails-open-by-default"),
    pytest.param(
        page("theme=dark", options={"revocation_store": ClosedStore()}),
        reached("theme=dark"),
        id="store-fails-closed-no-session-to-look-up",
    ),
    # -- stripped: a session signed out ------------------------------------------------------------------------
    pytest.param(page(ALICE_S1, before=[BACK_CHANNEL_S1]), STRIPPED, id="revoked-by-the-back-channel-sid"),
    pytest.param(page(ALICE_S1, before=[BACK_CHANNEL_ALICE]), STRIPPED, id="revoked-by-the-back-channel-sub"),
    pytest.param(page(ALICE_S1, before=[FRONT_CHANNEL_S1]), STRIPPED, id="revoked-by-the-front-channel"),
    pytest.param(page(ALICE_S1, before=[LOGOUT_S1]), STRIPPED, id="revoked-by-logout-and-replayed"),
    pytest.param(page(ALICE_S1, before=[BACK_CHANNEL_S1], method="POST"), STRIPPED, id="revoked-post"),
    pytest.param(
        page("id_token={id_token[alice-s1]}; session=s", before=[BACK_CHANNEL_S1]),
        reached("", DELETIONS),
        id="revoked-and-nothing-else-left",
    ),
    pytest.param(
        page(ALICE_S1, before=[BACK_CHANNEL_S1], scheme="https"),
        reached("theme=dark", SECURE_DELETIONS),
        id="revoked-over-https-deletes-with-secure",
    ),
    pytest.param(
        page(ALICE_S1, target="/shop/page", root_path="/shop", before=[mounted(BACK_CHANNEL_S1, "/shop")]),
        STRIPPED,
        id="revoked-in-an-app-mounted-under-a-root-path",
    ),
    pytest.param(
        page("theme=dark; id_token={id_token[alice-s2]}; id_token={id_token[alice-s1]}", before=[BACK_CHANNEL_S1]),
        reached("theme=dark", DELETIONS),
        id="a-revoked-id_token-beside-a-live-one",
    ),
    # -- stripped: login cookies without a verified id_token -----------------------------------------------------
    pytest.param(page("session=s; theme=dark"), STRIPPED, id="login-cookie-without-id_token"),
    pytest.param(page("id_token=garbage; session=s; theme=dark"), STRIPPED, id="id_token-not-a-token"),
    pytest.param(page("id_token={id_token[edited]}; session=s; theme=dark"), STRIPPED, id="id_token-edited"),
    pytest.param(
        page("id_token={id_token[other-issuer]}; session=s; theme=dark"), STRIPPED, id="id_token-of-another-issuer"
    ),
    pytest.param(
        page("id_token={id_token[unknown-key]}; session=s; theme=dark"), STRIPPED, id="id_token-of-an-unknown-key"
    ),
    # -- the check cannot be made: fails closed when set so --------------------------------------------------------
    pytest.param(
        page(ALICE_S1, provider={"jwks_status": 500}, options={"revocation_store_fail_open": False}),
        UNAVAILABLE,
        id="keys-unavailable-fails-closed-when-asked",
    ),
    pytest.param(page(ALICE_S1, options={"revocation_store": ClosedStore()}), UNAVAILABLE, id="store-fails-closed"),
    # -- without the keys, a token's own claims may refuse a request, never let one through ------------------------
    pytest.param(
        page(ALICE_S1, provider={"jwks_status": 500}, before=[FRONT_CHANNEL_S1]),
        STRIPPED,
        id="keys-unavailable-a-revoked-session-is-stripped-all-the-same",
    ),
    pytest.param(
        page(
            ALICE_S1,
            provider={"jwks_status": 500},
            before=[FRONT_CHANNEL_S1],
            options={"revocation_store_fail_open": False},
        ),
        STRIPPED,
        id="keys-unavailable-failing-closed-a-revoked-session-is-stripped-not-refused",
    ),
]

OPTIONS: dict[str, Any] = {
    "client_id": "rp",
    "backchannel_logout_path": "/backchannel-logout",
    "frontchannel_logout_path": "/frontchannel-logout",
    "clear_cookies": ["session"],
}


@pytest.mark.parametrize(("case", "answer"), ROWS)
def test_app_paths(kind: str, module_stub: StubState, case: Case, answer: Answer) -> None:
    prepare_provider(module_stub, case)
    send = row_sender(kind, case, issuer=module_stub.issuer, revocation_store=MemoryStore(), **OPTIONS)
    values = values_for(module_stub)
    answer.check(run_case(send, case, values), values)


def values_for(stub: StubState) -> Values:
    return Values(issuer=stub.issuer, id_tokens=ID_TOKENS, logout_tokens=LOGOUT_TOKENS, iss=quote(stub.issuer, safe=""))


# -- WebSocket handshakes (ASGI) ----------------------------------------------------------------------------------

WEBSOCKET_ROWS = [
    pytest.param(ALICE_S1, [], "ws", ALICE_S1, [], id="live-session-accepted-untouched"),
    pytest.param(ALICE_S1, [BACK_CHANNEL_S1], "ws", "theme=dark", DELETIONS, id="revoked-accepted-stripped"),
    pytest.param(ALICE_S1, [BACK_CHANNEL_S1], "wss", "theme=dark", SECURE_DELETIONS, id="revoked-over-wss"),
    pytest.param("session=s; theme=dark", [], "ws", "theme=dark", DELETIONS, id="login-cookie-without-id_token"),
    pytest.param(
        "id_token={id_token[alice-s1]}; session=s", [BACK_CHANNEL_S1], "ws", None, DELETIONS, id="nothing-left"
    ),
]


@pytest.mark.parametrize(("cookie", "before", "scheme", "seen", "set_cookies"), WEBSOCKET_ROWS)
def test_websocket_handshakes(
    module_stub: StubState,
    cookie: str,
    before: list[tuple[Case, int]],
    scheme: str,
    seen: str | None,
    set_cookies: Sequence[str],
) -> None:
    """The app accepts the socket having seen the Cookie header *seen* (None: none); the accept carries the lines."""
    prepare_provider(module_stub, Case())
    cookies: list[bytes | None] = []

    async def socket_app(scope: Any, receive: Any, send: Any) -> None:
        cookies.append(dict(scope["headers"]).get(b"cookie"))
        await send({"type": "websocket.accept", "headers": [(b"x-app", b"socket")]})

    middleware = AsgiMiddleware(socket_app, issuer=module_stub.issuer, revocation_store=MemoryStore(), **OPTIONS)
    values = values_for(module_stub)
    for earlier, status in before:
        assert run_case(asgi_sender(middleware), earlier, values).status == status
    headers = [(b"host", b"app.example"), (b"cookie", values.render(cookie).encode())]
    scope = {"type": "websocket", "path": "/ws", "headers": headers, "scheme": scheme, "query_string": b""}
    sent = drive_asgi(middleware, scope, [{"type": "websocket.connect"}])
    assert cookies == [values.render(seen).encode() if seen is not None else None]
    lines = [value.decode() for name, value in sent[0]["headers"] if name == b"set-cookie"]
    assert (sent[0]["type"], lines) == ("websocket.accept", list(set_cookies))


def test_a_websocket_of_a_session_that_cannot_be_checked_is_closed(module_stub: StubState) -> None:
    """Failing closed, the handshake is refused with 1011 and the app never sees it."""
    prepare_provider(module_stub, Case())
    called: list[object] = []

    async def socket_app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope)

    middleware = AsgiMiddleware(socket_app, issuer=module_stub.issuer, **{**OPTIONS, "revocation_store": ClosedStore()})
    cookie = values_for(module_stub).render(ALICE_S1).encode()
    scope = {"type": "websocket", "path": "/ws", "headers": [(b"cookie", cookie)], "scheme": "ws", "query_string": b""}
    assert drive_asgi(middleware, scope, [{"type": "websocket.connect"}]) == [{"type": "websocket.close", "code": 1011}]
    assert called == []
