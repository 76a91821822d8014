"""Six events produced by real flows: a request through either adapter, or a real redis-server.

``backchannel.not_advertised``, ``logout.form_post``, ``logout.id_token_malformed``,
``logout.redirect_omitted``, ``store.bad_message`` and ``store.listener_error`` are each
made to happen here, and the test asserts the record (its event, its level, the exact
values of its fields), that the listeners were told the very same, and what went on the
wire (status, ``Location``, ``Set-Cookie``, the form) or, for the store, what the store did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import redis

from tests.support.event_capture import capturing, fields_of
from tests.support.forms import FormReader
from tests.support.polling import eventually
from tests.support.provider import StubState
from tests.support.redis_server import RedisServer, RedisStores, redis_server
from tests.support.transports import middleware_sender

ISS = "https://op.example"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
#: The Redis store's listener thread: its events are only the store tests' own.
REDIS_THREAD = "logout-middleware-redis"

Fields = dict[str, object]


class Observed(logging.Handler):
    """Every record of the ``logout_middleware`` logger, and every event the listeners are told, with its thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.told: list[tuple[threading.Thread, str, Fields]] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.guard:
            self.records.append(record)

    def listener(self, name: str, fields: Mapping[str, object]) -> None:
        with self.guard:
            self.told.append((threading.current_thread(), name, dict(fields)))

    def reported(self, thread: int | None = None) -> list[tuple[str, str, Fields]]:
        """(event, level, fields) of each record: of the given thread, or of the requests (no Redis thread)."""
        with self.guard:
            records = list(self.records)
        return [(record.event, record.levelname, fields_of(record)) for record in records if _ours(record, thread)]

    def listened(self, thread: int | None = None) -> list[tuple[str, Fields]]:
        """What the listeners were told, from the same threads as :meth:`reported`."""
        with self.guard:
            told = list(self.told)
        return [(name, fields) for teller, name, fields in told if _told_by(teller, thread)]


def _ours(record: logging.LogRecord, thread: int | None) -> bool:
    if thread is not None:
        return record.thread == thread
    return not (record.threadName or "").startswith(REDIS_THREAD)


def _told_by(teller: threading.Thread, thread: int | None) -> bool:
    if thread is not None:
        return teller.ident == thread
    return not teller.name.startswith(REDIS_THREAD)


@pytest.fixture
def observed() -> Iterator[Observed]:
    handler = Observed()
    with capturing(handler, handler.listener):
        yield handler


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as started:
        yield started


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


# -- logout.form_post ------------------------------------------------------------------------


def test_an_end_session_url_past_max_url_length_reports_form_post(
    kind: str, stub: StubState, observed: Observed
) -> None:
    send = middleware_sender(kind, issuer=stub.issuer, client_id=stub.client_id,
                             post_logout_redirect_uri="https://app.example/bye", max_url_length=256)  # fmt: skip
    token = stub.id_token(sid="sid-1")
    response = send("GET", "/logout", {"Cookie": f"id_token={token}"})

    assert response.status == 200
    assert response.get("Location") is None
    assert response.get("Content-Type") == "text/html; charset=utf-8"
    assert [line.split(";")[0] for line in response.get_all("Set-Cookie")] == ["id_token="]
    form = FormReader()
    form.feed(response.body.decode())
    endpoint = f"{stub.issuer}/session/end"
    assert (form.method, form.action) == ("post", endpoint)
    sent = dict(form.fields)
    assert [name for name, _ in form.fields] == ["post_logout_redirect_uri", "id_token_hint", "state", "client_id"]
    assert (sent["post_logout_redirect_uri"], sent["id_token_hint"], sent["client_id"]) == (
        "https://app.example/bye",
        token,
        stub.client_id,
    )
    # The URL the middleware did not send: its length is what the event reports.
    url = (
        f"{endpoint}?post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&id_token_hint={token}"
        f"&state={sent['state']}&client_id={stub.client_id}"
    )
    assert len(url) > 256
    assert observed.reported() == [
        ("logout.form_post", "INFO", {"cookies_deleted": 1, "id_token_hint": True, "url_length": len(url)})
    ]
    assert observed.listened() == [
        ("logout.form_post", {"cookies_deleted": 1, "id_token_hint": True, "url_length": len(url)})
    ]


# -- logout.id_token_malformed ------------------------------------------------------------------


def test_an_id_token_cookie_that_is_not_a_jwt_reports_id_token_malformed(
    kind: str, stub: StubState, observed: Observed
) -> None:
    send = middleware_sender(kind, issuer=stub.issuer, client_id=stub.client_id, id_token_cookie="app_idt",
                             post_logout_redirect_uri="https://app.example/bye")  # fmt: skip
    opaque = "opaque-session-handle-0123456789"
    response = send("GET", "/logout", {"Cookie": f"app_idt={opaque}"})

    assert response.status == 303
    location = response.get("Location") or ""
    assert location.startswith(f"{stub.issuer}/session/end?")
    query = query_of(location)
    assert "id_token_hint" not in query, "a value that is not a JWT is not sent to the provider"
    assert (query["post_logout_redirect_uri"], query["client_id"]) == ("https://app.example/bye", stub.client_id)
    assert [line.split(";")[0] for line in response.get_all("Set-Cookie")] == ["app_idt="], "but it is deleted"
    assert observed.reported() == [
        ("logout.id_token_malformed", "WARNING", {"cookie_name": "app_idt"}),
        ("logout.redirected", "INFO", {"cookies_deleted": 1, "id_token_hint": False}),
    ]
    assert observed.listened() == [
        ("logout.id_token_malformed", {"cookie_name": "app_idt"}),
        ("logout.redirected", {"cookies_deleted": 1, "id_token_hint": False}),
    ]
    assert opaque not in observed.records[0].getMessage()


# -- logout.redirect_omitted --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "location", "reason"),
    [
        pytest.param(
            {"logout_callback_path": "/logout/callback"},
            "/session/end",  # neither post_logout_redirect_uri nor state: no parameter at all, and no state cookie
            "no_client_id",
            id="no-client-id",
        ),
        pytest.param(
            {"provider": "okta", "client_id": "test-client"},  # Okta refuses the redirect without id_token_hint
            "/v1/logout?client_id=test-client",
            "provider_needs_id_token",
            id="provider-needs-an-id-token",
        ),
    ],
)
def test_a_logout_without_id_token_that_cannot_redirect_back_reports_redirect_omitted(
    kind: str, stub: StubState, observed: Observed, options: dict[str, str], location: str, reason: str
) -> None:
    send = middleware_sender(kind, issuer=stub.issuer, post_logout_redirect_uri="https://app.example/bye", **options)
    response = send("GET", "/logout", {})

    assert response.status == 303
    assert response.get("Location") == stub.issuer + location
    assert [line.split(";")[0] for line in response.get_all("Set-Cookie")] == ["id_token="]
    expected = [
        ("logout.no_id_token", "WARNING", {"session": False}),
        ("logout.redirect_omitted", "INFO", {"reason": reason}),
        ("logout.redirected", "INFO", {"cookies_deleted": 1, "id_token_hint": False}),
    ]
    assert observed.reported() == expected
    assert observed.listened() == [(event, fields) for event, _, fields in expected]


# -- backchannel.not_advertised -------------------------------------------------------------------


def test_a_provider_not_advertising_backchannel_logout_is_reported_once(
    kind: str, stub: StubState, observed: Observed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stand-in provider always advertises back-channel logout; this one's discovery document does not.
    advertised = stub.metadata

    def not_advertised() -> dict[str, Any]:
        document = advertised()
        del document["backchannel_logout_supported"], document["backchannel_logout_session_supported"]
        return document

    monkeypatch.setattr(stub, "metadata", not_advertised)
    send = middleware_sender(kind, issuer=stub.issuer, client_id=stub.client_id, backchannel_logout_path="/bc",
                             revocation_store="memory://")  # fmt: skip
    first = send("POST", "/bc", FORM, f"logout_token={stub.logout_token(sid='sid-1')}".encode())
    second = send("POST", "/bc", FORM, f"logout_token={stub.logout_token(sid='sid-2')}".encode())

    # Not advertised, but the logout tokens are valid: both are accepted.
    assert (first.status, second.status) == (200, 200)
    assert [request["path"] for request in stub.requests].count("/.well-known/openid-configuration") == 1
    assert observed.reported() == [
        ("backchannel.not_advertised", "WARNING", {}),
        ("backchannel.accepted", "INFO", {"scope": "session"}),
        ("backchannel.accepted", "INFO", {"scope": "session"}),
    ]
    assert observed.listened() == [
        ("backchannel.not_advertised", {}),
        ("backchannel.accepted", {"scope": "session"}),
        ("backchannel.accepted", {"scope": "session"}),
    ]
    # And the session it ended is stripped from the app's requests.
    page = send("GET", "/page", {"Cookie": f"id_token={stub.id_token(sid='sid-1')}"})
    assert (page.status, b"id_token" in page.body) == (200, False)


# -- the Redis store: store.bad_message, store.listener_error -------------------------------------


def without_seconds(reported: list[tuple[str, str, Fields]]) -> list[tuple[str, str, Fields]]:
    """store.synced's ``seconds`` is a float that varies: checked for its type, then left out."""
    for name, _, fields in reported:
        if name == "store.synced":
            assert type(fields["seconds"]) is float
    return [(name, level, {k: v for k, v in fields.items() if k != "seconds"}) for name, level, fields in reported]


def test_a_foreign_message_on_the_channel_reports_bad_message(
    server: RedisServer, redis_stores: RedisStores, observed: Observed
) -> None:
    store = redis_stores.open(server.url, prefix="app1:")
    with redis.Redis.from_url(server.url) as client:
        assert client.publish("app1:revocations", b"not a revocation") == 1  # the store listens there, alone
    writer = redis_stores.open(server.url, prefix="app1:")
    writer.revoke_session(ISS, "sid-1")
    # Published after the foreign message, on the same channel: once it is applied, that one was read.
    assert eventually(lambda: store.is_revoked(ISS, "sid-1", None, None), within=2.0)
    assert len(store.revocations) == 1, "the foreign message added nothing"
    assert store.wait_until_synced(0), "and the link stayed up"

    thread = store._thread.ident
    assert without_seconds(observed.reported(thread)) == [
        ("store.synced", "INFO", {"store": "redis", "revocations": 0, "reconnect": False}),
        ("store.bad_message", "WARNING", {"store": "redis"}),
    ]
    assert [(name, fields) for name, fields in observed.listened(thread) if name != "store.synced"] == [
        ("store.bad_message", {"store": "redis"})
    ]


class ListenerBug(Exception):
    """What a bug in the listener raises: neither a Redis error nor an OSError."""


def test_an_unexpected_error_in_the_listener_reports_listener_error(
    server: RedisServer, redis_stores: RedisStores, observed: Observed, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = redis_stores.open(server.url)
    writer = redis_stores.open(server.url)
    # No real component fails this way on demand: applying the next published message raises, once.
    apply, failed = store._apply, threading.Event()

    def apply_once_failing(data: bytes) -> None:
        if not failed.is_set():
            failed.set()
            raise ListenerBug("a bug")
        apply(data)

    monkeypatch.setattr(store, "_apply", apply_once_failing)
    writer.revoke_session(ISS, "sid-1")
    thread = store._thread.ident
    # The message was lost to the bug; the listener retries, and catching up loads the revocation from Redis.
    assert eventually(lambda: len(observed.reported(thread)) == 3, within=5.0), observed.reported(thread)
    assert failed.is_set()
    assert store.is_revoked(ISS, "sid-1", None, None)
    assert store.wait_until_synced(0)

    assert without_seconds(observed.reported(thread)) == [
        ("store.synced", "INFO", {"store": "redis", "revocations": 0, "reconnect": False}),
        ("store.listener_error", "ERROR", {"store": "redis", "error_type": "ListenerBug"}),
        ("store.synced", "INFO", {"store": "redis", "revocations": 1, "reconnect": True}),
    ]
    [error] = [record for record in observed.records if record.thread == thread and record.levelno == logging.ERROR]
    assert error.exc_info is not None and error.exc_info[0] is ListenerBug, "the traceback is in the record"
    assert [(name, fields) for name, fields in observed.listened(thread) if name != "store.synced"] == [
        ("store.listener_error", {"store": "redis", "error_type": "ListenerBug"})
    ]
