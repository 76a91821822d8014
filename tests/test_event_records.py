"""What real flows report: each log record is a registered event with exactly its documented fields, and no secret.

Every flow runs against both adapters (the ``kind`` fixture) with one
configuration that has every secret a deployment has (``client_secret``,
``session_secret``) and every receiver on.  For each, the test asserts the
exact events in order, with their exact fields; that each record's level,
fields and values are the registry's; that the listeners were told the very
same; and that no token, secret, cookie value or ``state`` (nor any 20
characters of one) is in any record's message, arguments or fields, or in
the metrics the middleware serves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from joserfc import jws
from webob import Request

from logout_middleware import events
from logout_middleware.asgi import LogoutMiddleware as AsgiMiddleware
from logout_middleware.errors import StoreDeferredError, StoreUnavailableError
from logout_middleware.stores import MemoryStore
from logout_middleware.stores.redis import RedisStore
from logout_middleware.wsgi import LogoutMiddleware as WsgiMiddleware
from tests.support.apps import echo_asgi, echo_wsgi
from tests.support.event_capture import capturing, fields_of
from tests.support.provider import StubState
from tests.support.redis_server import redis_server
from tests.support.sessions import starlette_session
from tests.support.tokens import KEY, ROTATED, id_token, logout_token, unsigned
from tests.support.transports import Raw, Send, middleware_sender

CLIENT_SECRET = "client-secret-" + secrets.token_urlsafe(24)
SESSION_SECRET = "session-secret-" + secrets.token_urlsafe(24)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
#: The shortest piece of a secret that must not show anywhere.
PIECE = 20

Fields = dict[str, object]
Expected = list[tuple[str, Fields]]


def options(stub: StubState, **more: Any) -> dict[str, Any]:
    """Every receiver on, every secret set, the refresh token cookie revoked: the most a log could leak."""
    return {
        "issuer": stub.issuer,
        "client_id": stub.client_id,
        "client_secret": CLIENT_SECRET,
        "session_secret": SESSION_SECRET,
        "post_logout_redirect_uri": "https://app.example/bye",
        "logout_callback_path": "/logout/callback",
        "backchannel_logout_path": "/backchannel",
        "frontchannel_logout_path": "/frontchannel",
        "forward_auth_path": "/auth",
        "refresh_token_cookie": "rt",
        "enforce_revocations": True,
        "metrics": True,
        "revocation_store": MemoryStore(),
        **more,
    }


#: Deleted at every logout: the id_token cookie, the refresh token's, and the session cookie (read with session_secret).
DELETED = 3


@dataclass
class Run:
    """One flow's requests, remembering every secret they carry or get back."""

    stub: StubState
    send_raw: Send
    secrets: set[str] = field(default_factory=lambda: {CLIENT_SECRET, SESSION_SECRET})

    def send(self, method: str, target: str, headers: Mapping[str, str] | None = None, body: str = "") -> Raw:
        headers = dict(headers or {})
        for pair in headers.get("Cookie", "").split(";"):
            self.secrets.add(pair.partition("=")[2].strip())
        self.secrets.update(value for _, value in parse_qsl(body))
        response = self.send_raw(method, target, headers, body.encode())
        state = dict(parse_qsl(urlsplit(response.get("Location") or "").query)).get("state")
        if state:
            self.secrets.add(state)
        for line in response.get_all("Set-Cookie"):
            self.secrets.add(line.partition(";")[0].partition("=")[2])
        return response

    def id_token(self, **claims: Any) -> str:
        token = self.stub.id_token(**claims)
        self.secrets.add(token)
        return token

    def logout_token(self, **claims: Any) -> str:
        token = self.stub.logout_token(**claims)
        self.secrets.add(token)
        return token

    def signed_session(self, id_token: str) -> str:
        """Starlette's session cookie holding *id_token*, signed with the session secret."""
        value = starlette_session({"id_token": id_token}, SESSION_SECRET)
        self.secrets.add(value)
        return value

    def logged_out_state(self, cookie: str) -> tuple[str, str]:
        """Log out, and return the state sent to the provider and the state cookie's name=value."""
        response = self.send("GET", "/logout", {"Cookie": cookie})
        state = dict(parse_qsl(urlsplit(response.get("Location") or "").query))["state"]
        [state_cookie] = [line.partition(";")[0] for line in response.get_all("Set-Cookie") if "logout_state=" in line]
        return state, state_cookie


class Observed(logging.Handler):
    """What the logger records and the listeners are told, from this test's threads (a Redis listener thread
    left by another test is not this test's)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.told: list[tuple[str, Fields]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.threadName or not record.threadName.startswith("logout-middleware-redis"):
            self.records.append(record)

    def listener(self, name: str, fields: Mapping[str, object]) -> None:
        if not threading.current_thread().name.startswith("logout-middleware-redis"):
            self.told.append((name, dict(fields)))


@pytest.fixture
def observed() -> Iterator[Observed]:
    handler = Observed()
    with capturing(handler, handler.listener):
        yield handler


def check_records(records: list[logging.LogRecord]) -> None:
    """Each record is a registered event, at its level, with exactly its fields, each value as documented."""
    for record in records:
        assert hasattr(record, "event"), f"a record without an event: {record.getMessage()!r}"
        event = events.EVENTS[record.event]
        assert record.levelno in {event.level, event.repeat_level}, (record.event, record.levelname)
        values = fields_of(record)
        assert set(values) == set(event.fields), (record.event, sorted(values))
        for name, value in values.items():
            spec = event.fields[name]
            if isinstance(spec, tuple):
                assert value in spec, (record.event, name, value)
            else:
                assert type(value) is spec, (record.event, name, value)
                if isinstance(value, str):
                    assert len(value) <= 300, (record.event, name)


def pieces(secret: str) -> Iterator[str]:
    """The secret itself and, for a long one, each run of PIECE characters of it."""
    yield secret
    for start in range(len(secret) - PIECE + 1):
        yield secret[start : start + PIECE]


def scan(records: list[logging.LogRecord], metrics: str, known: set[str]) -> None:
    """No secret, nor a piece of one, in any record's message, arguments or fields, nor in the metrics."""
    texts = [metrics]
    for record in records:
        texts += [
            record.getMessage(),
            str(record.msg),
            *map(str, record.args or ()),
            *map(str, fields_of(record).values()),
        ]
    blob = "\n".join(texts)
    short = sorted(secret for secret in known if 0 < len(secret) < 12)
    assert not short, f"the flow's secrets are too short to look for: {short}"
    leaked = sorted({piece for secret in known if secret for piece in pieces(secret) if piece in blob})
    assert not leaked, f"secrets in the logs or metrics: {leaked}"


def observe_flow(kind: str, stub: StubState, observed: Observed, flow: Callable[[Run], None], **more: Any) -> Expected:
    """Run *flow* through a middleware of *kind*; check and scan its records; return its events and fields."""
    run = Run(stub, middleware_sender(kind, **options(stub, **more)))
    flow(run)
    metrics = run.send("GET", "/metrics")
    assert metrics.status == 200
    check_records(observed.records)
    told = [(record.event, fields_of(record)) for record in observed.records]
    assert observed.told == told, "the listeners were told otherwise than the log"
    scan(observed.records, metrics.body.decode(), run.secrets)
    return told


# -- the flows, each with the events it reports ----------------------------------------------------


class DeferringStore(MemoryStore):
    """A shared store that is away: revocations are held here, and the writes say so."""

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        super().revoke_session(iss, sid, expires_at)
        raise StoreDeferredError("the shared store is away")

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        super().revoke_subject(iss, sub, revoked_at, expires_at)
        raise StoreDeferredError("the shared store is away")


class UnreachableStore(MemoryStore):
    """A store that takes no write at all."""

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        raise StoreUnavailableError("the store is unreachable")

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        raise StoreUnavailableError("the store is unreachable")


def expect(status: int, response: Raw) -> Raw:
    assert response.status == status, (response.status, response.body)
    return response


def logout_with_id_token(run: Run) -> None:
    expect(303, run.send("GET", "/logout", {"Cookie": f"id_token={run.id_token()}"}))


def logout_without_session(run: Run) -> None:
    expect(303, run.send("GET", "/logout"))
    expect(303, run.send("GET", "/logout"))


def logout_with_signed_session(run: Run) -> None:
    expect(303, run.send("GET", "/logout", {"Cookie": f"session={run.signed_session(run.id_token())}"}))


def logout_revoking_the_refresh_token(run: Run) -> None:
    refresh = "refresh-" + secrets.token_urlsafe(24)
    expect(303, run.send("GET", "/logout", {"Cookie": f"id_token={run.id_token()}; rt={refresh}"}))


def logout_when_revocation_fails(run: Run) -> None:
    run.stub.revocation_status = 400
    logout_revoking_the_refresh_token(run)


def logout_while_the_provider_is_down(run: Run) -> None:
    run.stub.mode = "500"
    expect(503, run.send("GET", "/logout", {"Cookie": f"id_token={run.id_token()}"}))


def logout_refusals(run: Run) -> None:
    expect(405, run.send("PATCH", "/logout"))
    expect(503, run.send("GET", "/logout", {"Sec-Purpose": "prefetch"}))
    expect(403, run.send("GET", "/logout", {"Sec-Fetch-Site": "cross-site"}))
    expect(400, run.send("GET", "/logout?redirect_uri=https%3A%2F%2Fevil.example%2F"))
    expect(400, run.send("GET", "/logout?return_to=https%3A%2F%2Fevil.example%2F"))
    expect(400, run.send("GET", "/logout?return_to=%2Fa&return_to=%2Fb"))


def callback_with_its_state(run: Run) -> None:
    state, state_cookie = run.logged_out_state(f"id_token={run.id_token()}")
    expect(303, run.send("GET", f"/logout/callback?state={state}", {"Cookie": state_cookie}))


def callback_with_a_forged_state(run: Run) -> None:
    _, state_cookie = run.logged_out_state(f"id_token={run.id_token()}")
    forged = "forged-" + secrets.token_urlsafe(16)
    expect(400, run.send("GET", f"/logout/callback?state={forged}", {"Cookie": state_cookie}))
    expect(400, run.send("GET", f"/logout/callback?state={forged}"))
    expect(405, run.send("POST", "/logout/callback"))


def callback_after_the_provider_signed_out_alone(run: Run) -> None:
    expect(303, run.send("GET", "/logout/callback"))


def backchannel_accepted_then_replayed_then_stopped(run: Run) -> None:
    cookie = {"Cookie": f"id_token={run.id_token(sid='sid-1')}"}
    expect(204, run.send("GET", "/auth", cookie))
    token = run.logout_token(sid="sid-1")
    expect(200, run.send("POST", "/backchannel", FORM, f"logout_token={token}"))
    expect(400, run.send("POST", "/backchannel", FORM, f"logout_token={token}"))
    expect(401, run.send("GET", "/auth", cookie))
    expect(200, run.send("GET", "/page", cookie))
    expect(204, run.send("GET", "/auth"))


def backchannel_for_every_session_of_a_user(run: Run) -> None:
    token = run.logout_token(sid=None, sub="alice")
    expect(200, run.send("POST", "/backchannel", FORM, f"logout_token={token}"))


def backchannel_while_the_store_is_away(run: Run) -> None:
    token = run.logout_token()
    expect(503, run.send("POST", "/backchannel", FORM, f"logout_token={token}"))


def backchannel_while_the_keys_cannot_be_had(run: Run) -> None:
    run.stub.jwks_status = 500
    token = run.logout_token()
    expect(503, run.send("POST", "/backchannel", FORM, f"logout_token={token}"))


def frontchannel_logouts(run: Run) -> None:
    cookie = {"Cookie": f"id_token={run.id_token(sid='sid-1')}"}
    expect(200, run.send("GET", f"/frontchannel?iss={quote(run.stub.issuer)}&sid=sid-1", cookie))
    expect(400, run.send("GET", "/frontchannel?iss=https%3A%2F%2Fevil.example&sid=sid-2"))
    expect(400, run.send("GET", f"/frontchannel?iss={quote(run.stub.issuer)}&sid={'s' * 256}"))
    expect(400, run.send("GET", f"/frontchannel?iss={quote(run.stub.issuer)}"))
    expect(400, run.send("GET", "/frontchannel"))
    expect(400, run.send("GET", "/frontchannel?sid=a&sid=b"))
    expect(405, run.send("POST", "/frontchannel"))


def frontchannel_while_the_store_is_away(run: Run) -> None:
    expect(200, run.send("GET", f"/frontchannel?iss={quote(run.stub.issuer)}&sid=sid-1"))


def frontchannel_when_the_store_takes_nothing(run: Run) -> None:
    expect(503, run.send("GET", f"/frontchannel?iss={quote(run.stub.issuer)}&sid=sid-1"))


def requests_checked(run: Run) -> None:
    refresh = "refresh-" + secrets.token_urlsafe(24)
    expect(401, run.send("GET", "/auth", {"Cookie": f"rt={refresh}"}))
    expect(200, run.send("GET", "/page", {"Cookie": f"rt={refresh}"}))
    expect(204, run.send("GET", "/auth", {"Cookie": f"id_token={run.id_token()}"}))
    expect(405, run.send("POST", "/auth"))
    expect(405, run.send("POST", "/metrics"))
    expect(405, run.send("GET", "/backchannel"))


def requests_checked_while_the_keys_cannot_be_had(run: Run) -> None:
    run.stub.jwks_status = 500
    expect(503, run.send("GET", "/page", {"Cookie": f"id_token={run.id_token()}"}))


def _raise(claims: object) -> None:
    raise RuntimeError("the app's hook failed")


def redirected(*, hint: bool = True) -> tuple[str, Fields]:
    return ("logout.redirected", {"cookies_deleted": DELETED, "id_token_hint": hint})


def refused(name: str, reason: str, **more: object) -> tuple[str, Fields]:
    return (name, {"reason": reason, **more})


def method(endpoint: str) -> tuple[str, Fields]:
    return ("request.method_refused", {"endpoint": endpoint})


FLOWS = [
    pytest.param(logout_with_id_token, {}, [redirected()], id="logout-with-an-id_token-cookie"),
    pytest.param(
        logout_without_session,
        {},
        [("logout.no_id_token", {"session": False}), redirected(hint=False)] * 2,
        id="logout-without-a-session",
    ),
    pytest.param(logout_with_signed_session, {}, [redirected()], id="logout-with-a-signed-session"),
    pytest.param(
        logout_revoking_the_refresh_token,
        {},
        [("logout.token_revoked", {"token_type": "refresh_token"}), redirected()],
        id="logout-revokes-the-refresh-token",
    ),
    pytest.param(
        logout_when_revocation_fails,
        {},
        [
            ("logout.token_not_revoked", {"token_type": "refresh_token", "reason": "refused", "status": 400}),
            redirected(),
        ],
        id="logout-when-revocation-fails",
    ),
    pytest.param(
        logout_with_id_token,
        {"on_logout": _raise},
        [("logout.hook_failed", {"error_type": "RuntimeError"}), redirected()],
        id="logout-with-a-failing-hook",
    ),
    pytest.param(
        logout_with_id_token,
        {"revocation_store": DeferringStore()},
        [("logout.session_deferred", {}), redirected()],
        id="logout-while-the-store-is-away",
    ),
    pytest.param(
        logout_with_id_token,
        {"revocation_store": UnreachableStore()},
        [("logout.session_not_recorded", {}), redirected()],
        id="logout-when-the-store-takes-nothing",
    ),
    pytest.param(
        logout_while_the_provider_is_down,
        {},
        [
            (
                "provider.fetch_failed",
                {"document": "discovery", "url": "{issuer}/.well-known/openid-configuration", "unavailable": True},
            ),
            refused("logout.failed", "provider_unavailable"),
        ],
        id="logout-while-the-provider-is-down",
    ),
    pytest.param(
        logout_refusals,
        {},
        [
            method("logout"),
            ("logout.prefetch_declined", {}),
            refused("logout.refused", "cross_site"),
            refused("logout.refused", "redirect_uri"),
            refused("logout.refused", "return_to"),
            refused("query.refused", "param_repeated", endpoint="logout"),
        ],
        id="logout-refusals",
    ),
    pytest.param(
        callback_with_its_state,
        {},
        [redirected(), ("callback.returned", {"state_checked": True})],
        id="callback-with-its-state",
    ),
    pytest.param(
        callback_with_a_forged_state,
        {},
        [
            redirected(),
            refused("callback.refused", "state_mismatch"),
            refused("callback.refused", "no_state_cookie"),
            method("callback"),
        ],
        id="callback-with-a-forged-state",
    ),
    pytest.param(
        callback_after_the_provider_signed_out_alone,
        {},
        [("callback.returned", {"state_checked": False})],
        id="callback-without-state",
    ),
    pytest.param(
        backchannel_accepted_then_replayed_then_stopped,
        {},
        [
            ("backchannel.accepted", {"scope": "session"}),
            refused("backchannel.refused", "replay"),
            refused("check.stripped", "revoked", endpoint="forward_auth"),
            refused("check.stripped", "revoked", endpoint="app"),
        ],
        id="backchannel-accepted-replayed-and-enforced",
    ),
    pytest.param(
        backchannel_for_every_session_of_a_user,
        {},
        [("backchannel.accepted", {"scope": "subject"})],
        id="backchannel-for-a-user",
    ),
    pytest.param(
        backchannel_while_the_store_is_away,
        {"revocation_store": DeferringStore()},
        [refused("backchannel.unavailable", "store_deferred", retry_after=5)],
        id="backchannel-while-the-store-is-away",
    ),
    pytest.param(
        backchannel_while_the_store_is_away,
        {"revocation_store": UnreachableStore()},
        [refused("backchannel.unavailable", "store_unavailable", retry_after=5)],
        id="backchannel-when-the-store-takes-nothing",
    ),
    pytest.param(
        backchannel_while_the_keys_cannot_be_had,
        {},
        [
            ("provider.fetch_failed", {"document": "jwks", "url": "{issuer}/jwks", "unavailable": True}),
            refused("backchannel.unavailable", "keys_unavailable", retry_after=10),
        ],
        id="backchannel-while-the-keys-cannot-be-had",
    ),
    pytest.param(
        frontchannel_logouts,
        {},
        [
            ("frontchannel.accepted", {"revoked": True, "cookies_deleted": DELETED}),
            refused("frontchannel.refused", "issuer"),
            refused("frontchannel.refused", "sid_too_long"),
            refused("frontchannel.refused", "parameters"),
            refused("frontchannel.refused", "session_required"),
            refused("query.refused", "param_repeated", endpoint="frontchannel"),
            method("frontchannel"),
        ],
        id="frontchannel",
    ),
    pytest.param(
        frontchannel_while_the_store_is_away,
        {"revocation_store": DeferringStore()},
        [("frontchannel.deferred", {}), ("frontchannel.accepted", {"revoked": True, "cookies_deleted": 0})],
        id="frontchannel-while-the-store-is-away",
    ),
    pytest.param(
        frontchannel_when_the_store_takes_nothing,
        {"revocation_store": UnreachableStore()},
        [("frontchannel.unavailable", {})],
        id="frontchannel-when-the-store-takes-nothing",
    ),
    pytest.param(
        requests_checked,
        {},
        [
            refused("check.stripped", "untrusted", endpoint="forward_auth"),
            refused("check.stripped", "untrusted", endpoint="app"),
            method("forward_auth"),
            method("metrics"),
            method("backchannel"),
        ],
        id="forward-auth-and-the-app's-paths",
    ),
    pytest.param(
        requests_checked_while_the_keys_cannot_be_had,
        {"revocation_store_fail_open": False},
        [
            ("provider.fetch_failed", {"document": "jwks", "url": "{issuer}/jwks", "unavailable": True}),
            ("provider.keys_unavailable", {"unavailable": True}),
            refused("check.unavailable", "keys_unavailable", endpoint="app"),
        ],
        id="checks-fail-closed-without-the-keys",
    ),
]


def with_issuer(expected: Expected, issuer: str) -> Expected:
    return [
        (name, {key: value.format(issuer=issuer) if isinstance(value, str) else value for key, value in fields.items()})
        for name, fields in expected
    ]


@pytest.mark.parametrize(("flow", "more", "expected"), FLOWS)
def test_each_flow_reports_its_events_and_no_secret(
    kind: str,
    stub: StubState,
    observed: Observed,
    flow: Callable[[Run], None],
    more: dict[str, Any],
    expected: Expected,
) -> None:
    assert observe_flow(kind, stub, observed, flow, **more) == with_issuer(expected, stub.issuer)


def test_the_warning_of_a_missing_id_token_is_given_once(kind: str, stub: StubState, observed: Observed) -> None:
    observe_flow(kind, stub, observed, logout_without_session)
    levels = [record.levelname for record in observed.records if record.event == "logout.no_id_token"]
    assert levels == ["WARNING", "INFO"]


# -- each check of a logout token: the reason of its refusal -----------------------------------------


def _header_with(**header: Any) -> Callable[[StubState], str]:
    def make(stub: StubState) -> str:
        now = int(time.time())
        claims = {"iss": stub.issuer, "aud": stub.client_id, "iat": now, "exp": now + 60, "jti": secrets.token_hex(8),
                  "sid": "sid-1", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}  # fmt: skip
        payload = json.dumps(claims).encode()
        return jws.serialize_compact({"alg": "RS256", "kid": KEY.kid, **header}, payload, KEY)

    return make


TOKEN_REFUSALS = [
    pytest.param("form", lambda stub: "", id="form"),
    pytest.param("malformed", lambda stub: "not-a-jws-" + secrets.token_urlsafe(16), id="malformed"),
    pytest.param("algorithm", lambda stub: logout_token(stub.issuer, alg="PS256"), id="algorithm"),
    pytest.param("typ", _header_with(typ="at+jwt"), id="typ"),
    pytest.param("unknown_key", lambda stub: logout_token(stub.issuer, key=ROTATED), id="unknown-key"),
    pytest.param("signature", lambda stub: unsigned(logout_token(stub.issuer), sid="sid-2"), id="signature"),
    pytest.param("issuer", lambda stub: logout_token("https://evil.example"), id="issuer"),
    pytest.param("audience", lambda stub: logout_token(stub.issuer, aud="someone-else"), id="audience"),
    pytest.param("iat", lambda stub: logout_token(stub.issuer, iat=int(time.time()) + 3600), id="iat"),
    pytest.param("exp", lambda stub: logout_token(stub.issuer, exp=int(time.time()) - 3600), id="exp"),
    pytest.param("sid_sub", lambda stub: logout_token(stub.issuer, sid=None, sub=None), id="sid-sub"),
    pytest.param("events", lambda stub: logout_token(stub.issuer, events=None), id="events"),
    pytest.param("nonce", lambda stub: logout_token(stub.issuer, nonce="n"), id="nonce"),
    pytest.param("jti", lambda stub: logout_token(stub.issuer, jti=None), id="jti"),
    pytest.param("identifier_too_long", lambda stub: logout_token(stub.issuer, sid="s" * 256), id="identifier"),
]


@pytest.mark.parametrize(("reason", "make"), TOKEN_REFUSALS)
def test_each_refused_logout_token_reports_the_check_that_failed(
    kind: str, stub: StubState, observed: Observed, reason: str, make: Callable[[StubState], str]
) -> None:
    def flow(run: Run) -> None:
        token = make(stub)
        if token:
            run.secrets.add(token)
        expect(400, run.send("POST", "/backchannel", FORM, f"logout_token={token}"))

    assert observe_flow(kind, stub, observed, flow) == [("backchannel.refused", {"reason": reason})]


@pytest.mark.parametrize(
    ("reason", "status", "headers", "body"),
    [
        pytest.param("content_type", 415, {"Content-Type": "text/plain"}, "logout_token=x", id="content-type"),
        pytest.param("body_too_large", 413, FORM, "logout_token=" + "x" * 64 * 1024, id="too-large"),
    ],
)
def test_a_refused_back_channel_request_reports_why(
    kind: str, stub: StubState, observed: Observed, reason: str, status: int, headers: dict[str, str], body: str
) -> None:
    def flow(run: Run) -> None:
        expect(status, run.send_raw("POST", "/backchannel", headers, body.encode()))

    assert observe_flow(kind, stub, observed, flow) == [("backchannel.refused", {"reason": reason})]


class Stalled:
    """A WSGI input whose client announced a body and stopped sending it."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def read(self, size: int = -1) -> bytes:
        self.released.wait(30)
        return b""


def test_a_body_that_never_comes_reports_body_timeout(stub: StubState, observed: Observed) -> None:
    settings = {"issuer": stub.issuer, "client_id": "rp", "backchannel_logout_path": "/bc", "body_timeout": 0.3}
    environ = Request.blank("/bc", method="POST", headers={**FORM, "Content-Length": "100"}).environ
    environ["wsgi.input"] = stalled = Stalled()
    assert Request(environ).get_response(WsgiMiddleware(echo_wsgi, **settings)).status_code == 408
    stalled.released.set()

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(30)  # the client announced a body and sends nothing
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": "/bc", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", FORM["Content-Type"].encode()), (b"content-length", b"100")]}  # fmt: skip
    asyncio.run(asyncio.wait_for(AsgiMiddleware(echo_asgi, **settings)(scope, receive, send), 5))
    check_records(observed.records)
    assert [(record.event, fields_of(record)) for record in observed.records] == [
        ("backchannel.refused", {"reason": "body_timeout"})
    ] * 2


# -- the Redis store, lost and back ---------------------------------------------------------------


def eventually(check: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_redis_lost_and_back_reports_each(tmp_path: Path) -> None:
    logger = logging.getLogger("logout_middleware")
    records: list[logging.LogRecord] = []
    told: list[tuple[str, Fields]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    def listener(name: str, fields: Mapping[str, object]) -> None:
        told.append((name, dict(fields)))

    handler, level = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    events.add_listener(listener)
    try:
        with redis_server(tmp_path / "redis") as server:
            store = RedisStore(server.url, timeout=0.5)
            try:
                assert store.wait_until_synced(5)
                store.revoke_session("https://op.example", "sid-1")
                server.stop()
                assert eventually(lambda: any(record.event == "store.lost" for record in records))
                server.start()
                assert eventually(lambda: [record.event for record in records].count("store.synced") == 2)
            finally:
                store.close()
    finally:
        events.remove_listener(listener)
        logger.removeHandler(handler)
        logger.setLevel(level)
    ours = [record for record in records if record.event.startswith("store.")]
    check_records(ours)
    shown = [(record.event, {k: v for k, v in fields_of(record).items() if k != "seconds"}) for record in ours]
    assert shown == [
        ("store.synced", {"store": "redis", "revocations": 0, "reconnect": False}),
        ("store.lost", {"store": "redis", "error_type": "ConnectionError"}),
        # Restarted empty: this process writes back what Redis lost, then is in step again.
        ("store.written_back", {"store": "redis", "revocations": 1}),
        ("store.synced", {"store": "redis", "revocations": 0, "reconnect": True}),
    ]
    assert [(name, fields) for name, fields in told if name.startswith("store.")] == [
        (record.event, fields_of(record)) for record in ours
    ]


# -- id_token cookies signed with a key the provider does not have ---------------------------------


def key_fetches(stub: StubState) -> int:
    return sum(1 for request in stub.requests if request["path"] == "/jwks")


def test_cookies_naming_an_unknown_key_warn_of_no_outage(kind: str, stub: StubState, observed: Observed) -> None:
    # Any client can send such a cookie, as often as it likes: the first makes the keys be fetched again
    # (a rotation), the others within 10 s are refused without a fetch, and none of it is an outage.
    send = middleware_sender(kind, issuer=stub.issuer, client_id=stub.client_id, enforce_revocations=True,
                             revocation_store="memory://")  # fmt: skip
    assert send("GET", "/page", {"Cookie": f"id_token={id_token(stub.issuer)}"}).status == 200  # keys fetched
    before = key_fetches(stub)
    forged = id_token(stub.issuer, key=ROTATED)
    for _ in range(5):
        answer = send("GET", "/page", {"Cookie": f"id_token={forged}"})
        assert answer.status == 200
        assert b"id_token" not in answer.body  # stripped before the app
    assert key_fetches(stub) == before + 1
    warnings = [(record.event, record.levelname) for record in observed.records if record.levelno >= logging.WARNING]
    assert warnings == []
    stripped = [fields["reason"] for name, fields in observed.told if name == "check.stripped"]
    assert stripped == ["untrusted"] * 5


def test_a_refetch_that_fails_with_keys_at_hand_is_reported_as_stale(
    kind: str, stub: StubState, observed: Observed
) -> None:
    send = middleware_sender(kind, issuer=stub.issuer, client_id=stub.client_id, enforce_revocations=True,
                             revocation_store="memory://")  # fmt: skip
    assert send("GET", "/page", {"Cookie": f"id_token={id_token(stub.issuer)}"}).status == 200
    stub.jwks_status = 503
    assert send("GET", "/page", {"Cookie": f"id_token={id_token(stub.issuer, key=ROTATED)}"}).status == 200
    reported = [(record.event, record.levelname) for record in observed.records if record.event.startswith("provider.")]
    assert reported == [("provider.fetch_stale", "WARNING")]
