"""The app's own session, for every kind the middleware reads, through real requests.

* Starlette's ``SessionMiddleware``, with the logout middleware inside it
  (it sees ``scope["session"]``) and outside it (it reads the signed cookie
  with ``session_secret``);
* the plain ``id_token`` cookie, through both adapters, trusted only once verified;
* the ``id_token_getter`` of apps that keep it elsewhere.

Each is tried found, missing, tampered, duplicated and oversized, with the
revocation check on: a session logged out at ``/logout`` is recorded, and a
copy of its cookie replayed afterwards reaches the app signed out.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from logout_middleware import ConfigError, LogoutConfig
from logout_middleware.asgi import LogoutMiddleware as AsgiMiddleware
from logout_middleware.core import logout as handler_module
from logout_middleware.specs.id_token import token_key
from logout_middleware.stores import MemoryStore
from tests.support.provider import StubState
from tests.support.sessions import starlette_session
from tests.support.tokens import JWKS, ROTATED, id_token, unsigned
from tests.support.transports import Raw, Send, asgi_sender, middleware_sender

ISSUER = "https://op.example"
ENDPOINT = "https://op.example/session/end"
SECRET = "a-secret-the-app-signs-its-sessions-with"
TOKEN = id_token(ISSUER, sid="sid-app")
OTHER = id_token(ISSUER, sid="sid-other", sub="bob")
SESSION_OPTIONS: dict[str, Any] = {
    "end_session_endpoint": ENDPOINT,
    "issuer": ISSUER,
    "client_id": "rp",
    "post_logout_redirect_uri": "https://app.example/bye",
}


def hint_of(response: Raw) -> str | None:
    assert response.status == 303, response.body
    query = parse_qs(urlsplit(response.get("Location") or "").query)
    hints = query.get("id_token_hint", [])
    assert len(hints) <= 1
    return hints[0] if hints else None


def cookie_names(response: Raw) -> list[str]:
    return [line.partition("=")[0] for line in response.get_all("Set-Cookie")]


# -- Starlette's SessionMiddleware --------------------------------------------------


async def login(request: Request) -> Response:
    """What Authlib's Starlette client leaves in the session after a sign-in (or the app's own key)."""
    kept = request.query_params.get("kept", "token")
    token = request.query_params.get("id_token", TOKEN)
    if kept == "token":
        request.session["token"] = {"id_token": token, "access_token": "at", "userinfo": {"sub": "alice"}}
    elif kept == "cart":
        request.session["cart"] = ["book"]  # a visitor who never signed in
    else:
        request.session[kept] = token
    return PlainTextResponse("signed in")


async def page(request: Request) -> Response:
    return PlainTextResponse(f"session={json.dumps(dict(request.session))} cookies={sorted(request.cookies)}")


def starlette_app(where: str, **options: Any) -> Starlette:
    """An app with Starlette's sessions, the logout middleware *inside* SessionMiddleware or *outside* it."""
    app = Starlette(routes=[Route("/login", login), Route("/page", page)])
    options = {**SESSION_OPTIONS, **options}
    if where == "inside":
        app.add_middleware(AsgiMiddleware, **options)  # added first: runs inside
        app.add_middleware(SessionMiddleware, secret_key=SECRET)
    else:
        app.add_middleware(SessionMiddleware, secret_key=SECRET)
        app.add_middleware(AsgiMiddleware, session_secret=SECRET, **options)
    return app


@pytest.fixture(params=["inside", "outside"])
def where(request: pytest.FixtureRequest) -> str:
    """Where the logout middleware sits: every Starlette test runs once for each."""
    return str(request.param)


def signed_in(send: Send, query: str = "") -> str:
    """Sign in through the app; return its session cookie, as Starlette signed it."""
    response = send("GET", f"/login{query}", {})
    assert response.status == 200
    [line] = response.get_all("Set-Cookie")
    pair = line.partition(";")[0]
    assert pair.startswith("session=")
    return pair


def app_session(send: Send, cookie: str) -> tuple[dict[str, Any], list[str]]:
    """The session the app's view saw for a request with *cookie*, and the cookies set in the answer."""
    response = send("GET", "/page", {"Cookie": cookie})
    assert response.status == 200
    shown = response.body.decode().partition("session=")[2].partition(" cookies=")[0]
    return json.loads(shown), response.get_all("Set-Cookie")


@pytest.mark.parametrize(
    ("kept", "found"),
    [
        pytest.param("token", True, id="authlib-token"),
        pytest.param("id_token", True, id="id_token-key"),
        pytest.param("oidc_id_token", True, id="mozilla-django-oidc-key"),
        pytest.param("cart", False, id="no-id-token"),
    ],
)
def test_logout_sends_the_hint_from_the_session_and_ends_it(where: str, kept: str, found: bool) -> None:
    send = asgi_sender(starlette_app(where))
    cookie = signed_in(send, f"?kept={kept}")
    response = send("GET", "/logout", {"Cookie": cookie})
    assert hint_of(response) == (TOKEN if found else None)
    session_deletions = [line for line in response.get_all("Set-Cookie") if line.startswith("session=")]
    if where == "inside":  # Starlette deletes its cookie itself, once the session is emptied
        assert session_deletions == [
            "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax"
        ]
    else:
        assert session_deletions == [
            "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
        ]


def test_a_custom_key_path_is_read(where: str) -> None:
    async def nested(request: Request) -> Response:
        request.session["oidc"] = {"tokens": {"id": TOKEN}}
        return PlainTextResponse("ok")

    app = starlette_app(where, id_token_session_keys=["oidc.tokens.id"])
    app.router.routes.append(Route("/nested", nested))
    send = asgi_sender(app)
    cookie = send("GET", "/nested", {}).get_all("Set-Cookie")[0].partition(";")[0]
    assert hint_of(send("GET", "/logout", {"Cookie": cookie})) == TOKEN


def test_no_id_token_in_the_session_is_a_warning_once(where: str, caplog: pytest.LogCaptureFixture) -> None:
    send = asgi_sender(starlette_app(where))
    cookie = signed_in(send, "?kept=cart")
    with caplog.at_level(logging.INFO, logger="logout_middleware"):
        send("GET", "/logout", {"Cookie": cookie})
        send("GET", "/logout", {"Cookie": cookie})
    records = [record for record in caplog.records if record.msg == handler_module.NO_ID_TOKEN_IN_SESSION]
    assert [record.levelname for record in records] == ["WARNING", "INFO"]
    assert "id_token_session_keys" in records[0].getMessage()


def test_a_replayed_session_cookie_is_signed_out_after_logout(where: str) -> None:
    send = asgi_sender(starlette_app(where, enforce_revocations=True))
    cookie = signed_in(send)
    assert app_session(send, cookie)[0]["token"]["id_token"] == TOKEN
    assert send("GET", "/logout", {"Cookie": cookie}).status == 303
    session, set_cookies = app_session(send, cookie)
    assert session == {}, "the copy of the old cookie is refused"
    id_token_deletion = "id_token=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
    if where == "inside":  # the session is emptied, and Starlette deletes its cookie itself
        session_deletion = "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax"
    else:  # the middleware deletes the signed cookie it read
        session_deletion = "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
    assert set_cookies == [id_token_deletion, session_deletion]
    other = signed_in(send, f"?id_token={OTHER}")
    assert app_session(send, other)[0]["token"]["id_token"] == OTHER, "another session is not touched"


def test_without_checks_a_replayed_session_cookie_still_works(where: str) -> None:
    """The control: what enforce_revocations changes."""
    send = asgi_sender(starlette_app(where))
    cookie = signed_in(send)
    send("GET", "/logout", {"Cookie": cookie})
    assert app_session(send, cookie)[0]["token"]["id_token"] == TOKEN


def test_a_tampered_session_cookie_is_an_anonymous_session(where: str) -> None:
    send = asgi_sender(starlette_app(where, enforce_revocations=True))
    cookie = signed_in(send)
    send("GET", "/logout", {"Cookie": cookie})
    payload, _, signature = cookie.partition("=")[2].partition(".")
    forged = json.loads(base64.b64decode(payload))
    forged["token"]["id_token"] = OTHER
    tampered = f"session={base64.b64encode(json.dumps(forged).encode()).decode()}.{signature}"
    assert app_session(send, tampered)[0] == {}, "Starlette ignores it, and so does the check"
    assert hint_of(send("GET", "/logout", {"Cookie": tampered})) is None


@pytest.mark.parametrize("order", ["revoked-last", "revoked-first"])
def test_duplicate_session_cookies_never_let_a_revoked_one_through(where: str, order: str) -> None:
    send = asgi_sender(starlette_app(where, enforce_revocations=True))
    revoked, live = signed_in(send), signed_in(send, f"?id_token={OTHER}")
    send("GET", "/logout", {"Cookie": revoked})
    pair = f"{live}; {revoked}" if order == "revoked-last" else f"{revoked}; {live}"
    session, _ = app_session(send, pair)
    assert session.get("token", {}).get("id_token") != TOKEN
    garbage = f"session=garbage; {revoked}" if order == "revoked-last" else f"{revoked}; session=garbage"
    assert app_session(send, garbage)[0] == {}


def test_an_oversized_session_cookie_is_not_read(where: str) -> None:
    send = asgi_sender(starlette_app(where, enforce_revocations=True))
    huge = "session=" + "A" * 20_000
    session, _ = app_session(send, huge)
    assert session == {}
    assert hint_of(send("GET", "/logout", {"Cookie": huge})) is None


def test_a_session_of_another_issuer_is_not_looked_up() -> None:
    store = MemoryStore()
    foreign = id_token("https://other.example", sid="sid-app")
    store.revoke_session("https://other.example", "sid-app")
    send = asgi_sender(starlette_app("inside", enforce_revocations=True, revocation_store=store))
    cookie = signed_in(send, f"?kept=id_token&id_token={foreign}")
    assert app_session(send, cookie)[0] == {"id_token": foreign}


def test_a_session_without_sid_is_revoked_by_its_token() -> None:
    store = MemoryStore()
    no_sid = id_token(ISSUER, sid=None)
    send = asgi_sender(starlette_app("inside", enforce_revocations=True, revocation_store=store))
    cookie = signed_in(send, f"?kept=id_token&id_token={no_sid}")
    send("GET", "/logout", {"Cookie": cookie})
    key = token_key(no_sid)
    assert key.startswith("#") and len(key) == 44
    assert len(store.revocations) == 1 and store.is_revoked(ISSUER, key, None, None), "revoked by the token's digest"
    assert app_session(send, cookie)[0] == {}
    other_device = signed_in(send, f"?kept=id_token&id_token={id_token(ISSUER, sid=None, nonce='n2')}")
    assert app_session(send, other_device)[0] != {}, "the user's other sessions live on"


def test_on_logout_gets_the_claims_and_its_errors_never_block(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []

    def hook(claims: Any) -> None:
        seen.append(claims)
        raise RuntimeError("the app's cleanup failed")

    send = asgi_sender(starlette_app("inside", on_logout=hook))
    cookie = signed_in(send)
    with caplog.at_level(logging.ERROR, logger="logout_middleware"):
        response = send("GET", "/logout", {"Cookie": cookie})
    assert hint_of(response) == TOKEN
    [claims] = seen
    assert (claims.iss, claims.sub, claims.sid) == (ISSUER, "alice", "sid-app")
    assert "RuntimeError" in caplog.text
    seen.clear()
    assert send("GET", "/logout", {}).status == 303
    assert seen == [None], "called for a logout without a session too"


def test_session_secret_needs_itsdangerous(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "itsdangerous", None)
    with pytest.raises(ConfigError, match=r"pip install 'logout-middleware\[asgi\]'"):
        AsgiMiddleware(page, session_secret=SECRET, **SESSION_OPTIONS)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"id_token_session_keys": []}, "at least one key"),
        ({"id_token_session_keys": ["a..b"]}, "dotted key paths"),
        ({"id_token_session_keys": "id_token"}, "list or tuple"),
        ({"session_cookie": "bad name"}, "session_cookie"),
        ({"session_secret": ""}, "session_secret"),
        ({"on_logout": "not a function"}, "on_logout"),
        ({"id_token_getter": 42}, "id_token_getter"),
        ({"enforce_revocations": "yes"}, "enforce_revocations"),
        ({"enforce_revocations": True, "client_id": None}, "issuer and client_id are required"),
    ],
)
def test_session_options_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LogoutConfig(**{**SESSION_OPTIONS, **options})


def test_session_secret_is_masked_in_repr() -> None:
    config = LogoutConfig(**SESSION_OPTIONS, session_secret=SECRET)
    assert SECRET not in repr(config)
    assert "session_secret='***'" in repr(config)


def test_a_signed_cookie_with_another_secret_is_not_read() -> None:
    other = starlette_session({"token": {"id_token": TOKEN}}, "another-secret")
    send = asgi_sender(starlette_app("outside"))
    assert hint_of(send("GET", "/logout", {"Cookie": f"session={other}"})) is None


# -- the id_token in a cookie of its own ------------------------------------------------


@pytest.fixture
def provider(stub: StubState) -> StubState:
    stub.jwks = JWKS
    return stub


def plain(kind: str, stub: StubState, **options: Any) -> Send:
    return middleware_sender(
        kind, issuer=stub.issuer, client_id="rp", enforce_revocations=True,
        clear_cookies=["session"], **options,
    )  # fmt: skip


def seen_by_app(send: Send, cookie: str) -> tuple[str, list[str]]:
    response = send("GET", "/page", {"Cookie": cookie})
    assert response.status == 200, response.body
    seen = response.body.decode().partition("cookie=")[2]
    return ("" if seen == "None" else seen), [line.partition("=")[0] for line in response.get_all("Set-Cookie")]


#: Cookie headers by what they hold, built for the stand-in provider's issuer, and whether they are trusted.
PLAIN_CASES: dict[str, tuple[Callable[[str], str], bool]] = {
    "verified": (lambda iss: f"id_token={id_token(iss)}", True),
    "login-cookie-without-id_token": (lambda iss: "", False),
    "sid-edited": (lambda iss: f"id_token={unsigned(id_token(iss), sid='sid-x')}", False),
    "junk-beside-the-real-one": (lambda iss: f"id_token=x; id_token={id_token(iss)}", False),
    "two-valid-ones": (lambda iss: f"id_token={id_token(iss)}; id_token={id_token(iss, sid='s2')}", True),
    "for-another-client": (lambda iss: f"id_token={id_token(iss, aud='another-client')}", False),
    "another-issuer": (lambda iss: f"id_token={id_token('https://other.example')}", False),
    "signed-by-an-unknown-key": (lambda iss: f"id_token={id_token(iss, key=ROTATED)}", False),
    "oversized": (lambda iss: f"id_token={id_token(iss, padding='x' * 70_000)}", False),
    "expired-token-of-a-live-session": (lambda iss: f"id_token={id_token(iss, exp=1)}", True),
}


@pytest.mark.parametrize("case", PLAIN_CASES)
def test_an_id_token_cookie_counts_only_once_verified(provider: StubState, kind: str, case: str) -> None:
    cookie, trusted = PLAIN_CASES[case]
    header = "; ".join(filter(None, [cookie(provider.issuer), "session=s", "theme=dark"]))
    seen, deleted = seen_by_app(plain(kind, provider), header)
    if trusted:
        assert (seen, deleted) == (header, [])
    else:
        assert (seen, deleted) == ("theme=dark", ["id_token", "session"])


def test_anonymous_requests_pass(provider: StubState, kind: str) -> None:
    assert seen_by_app(plain(kind, provider), "theme=dark") == ("theme=dark", [])


def test_a_revoked_id_token_cookie_is_stripped_after_logout(provider: StubState, kind: str) -> None:
    send = plain(kind, provider)
    header = f"id_token={id_token(provider.issuer)}; session=s"
    assert seen_by_app(send, header)[0] == header
    assert send("GET", "/logout", {"Cookie": header}).status == 303
    assert seen_by_app(send, header) == ("", ["id_token", "session"])


def test_a_forged_id_token_at_logout_revokes_nothing(provider: StubState, kind: str) -> None:
    """Recording a revocation for an unverified token would let anyone sign a victim out."""
    send = plain(kind, provider)
    victim = f"id_token={id_token(provider.issuer, sid='victim')}; session=s"
    forged = unsigned(id_token(provider.issuer, sid="mine"), sid="victim")
    assert send("GET", "/logout", {"Cookie": f"id_token={forged}"}).status == 303
    assert seen_by_app(send, victim)[0] == victim


def test_the_login_cookie_rule_can_be_turned_off(provider: StubState, kind: str) -> None:
    send = plain(kind, provider, login_cookies_need_id_token=False)
    assert seen_by_app(send, "session=s; theme=dark") == ("session=s; theme=dark", [])


def test_keys_are_fetched_once_for_many_sessions(provider: StubState, kind: str) -> None:
    send = plain(kind, provider)
    for sid in ("a", "b", "c"):
        header = f"id_token={id_token(provider.issuer, sid=sid)}"
        assert seen_by_app(send, header)[0] == header
    assert [request["path"] for request in provider.requests].count("/jwks") == 1


def test_without_keys_the_check_fails_open_or_closed(provider: StubState, kind: str) -> None:
    provider.jwks, provider.jwks_status = b"{}", 500
    header = f"id_token={id_token(provider.issuer)}; session=s"
    assert seen_by_app(plain(kind, provider), header)[0] == header, "fail open (the default)"
    closed = plain(kind, provider, revocation_store_fail_open=False)
    response = closed("GET", "/page", {"Cookie": header})
    assert (response.status, response.get("X-App")) == (503, None)


# -- the id_token_getter ----------------------------------------------------------------


def test_the_getter_finds_the_hint_and_its_token_is_verified(provider: StubState, kind: str) -> None:
    tokens = {"good": id_token(provider.issuer, sid="g"), "forged": unsigned(id_token(provider.issuer), sid="f")}

    def getter(request: Any) -> str | None:
        headers = request["headers"] if isinstance(request, dict) and "headers" in request else None
        if headers is not None:  # ASGI scope
            name = dict(headers).get(b"x-session", b"").decode()
        else:  # WSGI environ
            name = request.get("HTTP_X_SESSION", "")
        return tokens.get(name)

    send = plain(kind, provider, id_token_getter=getter)
    assert seen_by_app_with(send, "good") == ("session=s", [])
    assert seen_by_app_with(send, "forged") == ("", ["id_token", "session"])
    assert hint_of(send("GET", "/logout", {"X-Session": "good"})) == tokens["good"]


def seen_by_app_with(send: Send, session_name: str) -> tuple[str, list[str]]:
    response = send("GET", "/page", {"Cookie": "session=s", "X-Session": session_name})
    assert response.status == 200
    seen = response.body.decode().partition("cookie=")[2]
    return ("" if seen == "None" else seen), [line.partition("=")[0] for line in response.get_all("Set-Cookie")]
