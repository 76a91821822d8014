"""The Redis revocation store against a real redis-server started by the test: what only it does.

The store contract every store keeps (revoke, look up, expire, refuse a
replayed jti, each method of the protocol) runs against Redis too, with the
memory and SQLite stores, in tests/test_revocation.py.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio.connection

from logout_middleware import events
from logout_middleware.errors import StoreDeferredError, StoreUnavailableError
from logout_middleware.stores import open_store
from logout_middleware.stores import redis as redis_module
from logout_middleware.stores.redis import BAD_MESSAGE, REDIS_LOST, SHARDS, RedisStore
from logout_middleware.stores.revocations import expiry_hour, session_digest, subject_digest

from .support.polling import eventually
from .support.provider import StubState
from .support.redis_server import RedisServer, RedisStores, free_port, redis_server
from .support.transports import middleware_sender

ISS = "https://op.example"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as started:
        yield started


def test_revocation_seen_by_another_instance_within_a_second(server: RedisServer, redis_stores: RedisStores) -> None:
    first, second = redis_stores.open(server.url), redis_stores.open(server.url)
    first.revoke_session(ISS, "sid-1")
    assert first.is_revoked(ISS, "sid-1", None, None)  # the writer sees it at once
    assert eventually(lambda: second.is_revoked(ISS, "sid-1", None, None), within=1.0)
    second.revoke_subject(ISS, "user-1", revoked_at=time.time())
    assert eventually(lambda: first.is_revoked(ISS, None, "user-1", time.time() - 60), within=1.0)
    assert not first.is_revoked(ISS, None, "user-1", time.time() + 60)
    assert not second.is_revoked(ISS, "sid-2", "user-2", None)


_OTHER_PROCESS = textwrap.dedent(
    """
    import sys, time
    from logout_middleware.stores.redis import RedisStore

    store = RedisStore(sys.argv[1])
    store.revoke_session("https://op.example", "sid-from-child")
    store.revoke_subject("https://op.example", "user-from-child", revoked_at=time.time())
    print("done", flush=True)
    store.close()
    """
)


def test_revocation_from_another_process_seen_within_a_second(server: RedisServer, redis_stores: RedisStores) -> None:
    store = redis_stores.open(server.url)
    child = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, server.url], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "done\n"
        assert eventually(lambda: store.is_revoked(ISS, "sid-from-child", None, None), within=1.0)
        assert eventually(lambda: store.is_revoked(ISS, None, "user-from-child", time.time() - 60), within=1.0)
    finally:
        child.communicate(timeout=10)
    assert child.returncode == 0


def test_jti_replay_across_instances(server: RedisServer, redis_stores: RedisStores) -> None:
    first, second = redis_stores.open(server.url), redis_stores.open(server.url)
    assert first.check_and_remember_jti(ISS, "jti-1", time.time() + 60)
    assert not second.check_and_remember_jti(ISS, "jti-1", time.time() + 60)
    assert not first.check_and_remember_jti(ISS, "jti-1", time.time() + 60)
    assert second.check_and_remember_jti(ISS, "jti-2")


def test_the_layout_in_redis(server: RedisServer, redis_stores: RedisStores) -> None:
    """Per hour in which revocations end: sets of session digests, a hash of subject digests; gone after the hour."""
    store = redis_stores.open(server.url, ttl=600)
    now = time.time()
    store.revoke_session(ISS, "sid-1", now + 120)
    store.revoke_subject(ISS, "auth0|42", revoked_at=1_700_000_000.5, expires_at=now + 600)
    store.check_and_remember_jti(ISS, "jti-1")
    session, subject = session_digest(ISS, "sid-1"), subject_digest(ISS, "auth0|42")
    session_hour, subject_hour = expiry_hour(now + 120), expiry_hour(now + 600)
    sessions_key = f"logout:sessions:{session_hour}:{session[0] % SHARDS}"
    subjects_key = f"logout:subjects:{subject_hour}"
    with redis.Redis.from_url(server.url) as client:
        assert client.smembers(sessions_key) == {session}
        assert client.hgetall(subjects_key) == {subject: b"1700000000.5"}
        for key, hour in ((sessions_key, session_hour), (subjects_key, subject_hour)):
            assert hour + 60 - now - 5 <= client.ttl(key) <= hour + 60 - now + 1  # TTL rounds
        assert 595 <= client.ttl(f"logout:jti:{ISS}|jti-1") <= 600
        keys = {key.decode() for key in client.keys("logout:*")}
    assert keys == {sessions_key, subjects_key, "logout:layout", f"logout:jti:{ISS}|jti-1"}, "no sid or sub in clear"


def test_a_new_instance_loads_what_is_in_redis(server: RedisServer, redis_stores: RedisStores) -> None:
    writer = redis_stores.open(server.url)
    odd_iss = "https://op.example/a|b%7C"  # '|' and '%' in iss must round-trip through the keys
    writer.revoke_session(odd_iss, "sid|with|pipes")
    writer.revoke_subject(ISS, "user-1", revoked_at=time.time() + 100)
    writer.revoke_subject(ISS, "user-1", revoked_at=time.time())  # older: must not lower the first
    reader = redis_stores.open(server.url)
    assert reader.is_revoked(odd_iss, "sid|with|pipes", None, None)
    assert not reader.is_revoked("https://op.example/a", "b%7C|sid|with|pipes", None, None)
    assert reader.is_revoked(ISS, None, "user-1", time.time() + 50)


def test_foreign_members_in_the_hours_keys_are_ignored(server: RedisServer, redis_stores: RedisStores) -> None:
    hour = expiry_hour(time.time() + 60)
    kept, foreign = session_digest(ISS, "sid-kept"), session_digest(ISS, "sid-x")
    with redis.Redis.from_url(server.url) as client:
        # A member of the wrong length breaks the one-string load of its set: the store reads that set member by member.
        client.sadd(f"logout:sessions:{hour}:{kept[0] % SHARDS}", kept, b"not-a-digest")
        client.hset(f"logout:subjects:{hour}", mapping={foreign[:-1]: b"1", foreign: b"not-a-time", kept: b"inf"})
        for key in client.keys("logout:*"):
            client.expire(key, 600)
    store = redis_stores.open(server.url)
    assert store.is_revoked(ISS, "sid-kept", None, None)
    assert not store.is_revoked(ISS, "sid-x", None, None)
    assert len(store.revocations) == 1


def test_listener_survives_an_unexpected_error(
    server: RedisServer, redis_stores: RedisStores, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    load = RedisStore._load
    calls: list[int] = []

    def flaky_load(self: RedisStore) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return load(self)

    monkeypatch.setattr(RedisStore, "_load", flaky_load)
    redis_stores.open(server.url)  # synced after a retry
    # Only this store's records: a store another test left behind may still be giving up on its Redis.
    logged = [record.exc_info for record in caplog.records if record.msg == REDIS_LOST and record.exc_info]
    assert [(kind, str(error)) for kind, error, _ in logged] == [(RuntimeError, "a bug")]


def test_a_store_closed_while_it_waits_on_redis_logs_nothing_after(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    following = threading.Event()

    def stuck_follow(self: RedisStore, pubsub: Any) -> None:
        # Waiting on Redis when the store is closed, as a listener asking a dead Sentinel does, and failing after.
        following.set()
        self._closed.wait()
        raise redis.ConnectionError("Redis went away while the store was closing")

    monkeypatch.setattr(RedisStore, "_follow", stuck_follow)
    store = RedisStore(server.url)
    assert following.wait(10), "the store never started following Redis"
    store.close()
    store._thread.join(5)
    assert not store._thread.is_alive()
    assert [record.getMessage() for record in caplog.records if record.msg == REDIS_LOST] == []


def test_catch_up_after_reconnect(tmp_path: Path, server: RedisServer, redis_stores: RedisStores) -> None:
    missed = redis_stores.open(server.url)
    missed.revoke_session(ISS, "sid-before")
    server.stop()
    # Meanwhile another instance writes to a Redis this one cannot see; its messages are lost for it.
    port = next(port for port in iter(free_port, None) if port != server.port)  # not where `missed` looks
    with redis_server(tmp_path / "elsewhere", port=port) as elsewhere:
        writer = redis_stores.open(elsewhere.url)
        writer.revoke_session(ISS, "sid-while-away")
        writer.revoke_subject(ISS, "user-while-away", revoked_at=time.time())
        assert elsewhere.command("SAVE") == "+OK"
        shutil.copy(elsewhere.directory / "dump.rdb", server.directory / "dump.rdb")
    assert not missed.is_revoked(ISS, "sid-while-away", None, None)
    server.start()  # same port, now with that data
    assert eventually(lambda: missed.is_revoked(ISS, "sid-while-away", None, None), within=5.0)
    assert eventually(lambda: missed.is_revoked(ISS, None, "user-while-away", time.time() - 60), within=1.0)
    assert missed.is_revoked(ISS, "sid-before", None, None)  # the local copy is merged, not replaced


def test_redis_gone_fail_open(server: RedisServer, redis_stores: RedisStores, caplog: pytest.LogCaptureFixture) -> None:
    store = redis_stores.open(server.url)
    store.revoke_session(ISS, "sid-1")
    server.stop()
    assert eventually(lambda: not store.wait_until_synced(0), within=2.0)
    started = time.monotonic()
    assert store.is_revoked(ISS, "sid-1", None, None)
    assert not store.is_revoked(ISS, "sid-2", None, None)
    assert time.monotonic() - started < 0.5  # answered from the local copy: a network wait takes the 1 s timeout
    with pytest.raises(StoreDeferredError):
        store.revoke_session(ISS, "sid-2")
    with pytest.raises(StoreDeferredError):
        store.revoke_subject(ISS, "user-1", revoked_at=time.time())
    with pytest.raises(StoreUnavailableError):
        store.check_and_remember_jti(ISS, "jti-1")
    assert store.is_revoked(ISS, "sid-2", None, None), "a write Redis could not take holds here at once"
    assert store.pending == 2
    assert any(record.msg == REDIS_LOST for record in caplog.records)
    server.start()  # empty: nothing was saved
    assert store.wait_until_synced(10)
    assert store.is_revoked(ISS, "sid-1", None, None)  # a Redis that lost its data un-revokes nothing
    assert store.pending == 0
    with redis.Redis.from_url(server.url) as client:
        sessions = [member for key in client.keys("logout:sessions:*") for member in client.smembers(key)]
        subjects = [field for key in client.keys("logout:subjects:*") for field in client.hkeys(key)]
    assert sorted(sessions) == sorted(session_digest(ISS, sid) for sid in ("sid-1", "sid-2")), (
        "what waited was written, and what Redis lost was written back"
    )
    assert subjects == [subject_digest(ISS, "user-1")]


def test_redis_gone_fail_closed(server: RedisServer, redis_stores: RedisStores) -> None:
    store = redis_stores.open(server.url, fail_open=False, grace=0.3)
    store.revoke_session(ISS, "sid-1")
    assert store.is_revoked(ISS, "sid-1", None, None)
    server.stop()

    def refuses() -> bool:
        try:
            store.is_revoked(ISS, "sid-1", None, None)
        except StoreUnavailableError:
            return True
        return False

    assert eventually(refuses, within=3.0)
    server.start()
    assert store.wait_until_synced(10)
    assert store.is_revoked(ISS, "sid-1", None, None)


def test_redis_never_reached(redis_stores: RedisStores, caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="logout_middleware"):
        open_ = redis_stores.open(url, synced=False)
        closed = redis_stores.open(url, synced=False, fail_open=False, grace=0)
        assert eventually(lambda: any(record.msg == REDIS_LOST for record in caplog.records), within=2.0)
    assert not open_.is_revoked(ISS, "sid-1", None, None)
    with pytest.raises(StoreUnavailableError):
        closed.is_revoked(ISS, "sid-1", None, None)
    with pytest.raises(StoreUnavailableError):
        open_.revoke_session(ISS, "sid-1")


DIGEST = bytes(range(16))
GARBAGE_MESSAGES = (
    b"not a revocation",
    b"s123 5",  # too short for a digest
    b"s" + DIGEST,  # no time
    b"s" + DIGEST + b"not-a-time",
    b"s" + DIGEST + b"inf",
    b"s" + DIGEST + b"1 2",  # a session has one time
    b"u" + DIGEST + b"1",  # a subject has two
    b"u" + DIGEST + b"1 nan",
    b"x" + DIGEST + b"1 2",
)


def test_malformed_messages_are_ignored(
    server: RedisServer, redis_stores: RedisStores, caplog: pytest.LogCaptureFixture
) -> None:
    store = redis_stores.open(server.url)
    client = redis.Redis.from_url(server.url)
    try:
        for garbage in GARBAGE_MESSAGES:
            client.publish("logout:revocations", garbage)
    finally:
        client.close()
    writer = redis_stores.open(server.url)
    writer.revoke_session(ISS, "sid-1")
    assert eventually(lambda: store.is_revoked(ISS, "sid-1", None, None), within=1.0)
    assert [record.msg for record in caplog.records].count(BAD_MESSAGE) == len(GARBAGE_MESSAGES)


def test_open_store_redis_url(server: RedisServer) -> None:
    store = open_store(server.url, max_token_lifetime=60, fail_open=False)
    try:
        assert isinstance(store, RedisStore)
        assert (store.ttl, store.fail_open) == (60, False)
        assert store.wait_until_synced(5)
    finally:
        store.close()


def test_the_per_request_check_sends_nothing_to_redis(
    kind: str, server: RedisServer, redis_stores: RedisStores, stub: StubState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request reads this process's copy: no command of the request path reaches redis-server, first or not."""
    store = redis_stores.open(server.url)
    store.revoke_session(stub.issuer, "sid-gone")
    send = middleware_sender(
        kind, issuer=stub.issuer, client_id=stub.client_id, enforce_revocations=True, revocation_store=store
    )
    sent_by: list[str] = []
    send_to_redis = redis.connection.AbstractConnection.send_packed_command

    def noted(connection: Any, command: Any, *args: Any, **kwargs: Any) -> None:
        if threading.current_thread().name != "logout-middleware-redis":  # the store's own thread may talk
            sent_by.append(threading.current_thread().name)
        send_to_redis(connection, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", noted)
    send_to_redis_async = redis.asyncio.connection.AbstractConnection.send_packed_command

    async def noted_async(connection: Any, command: Any, *args: Any, **kwargs: Any) -> None:
        sent_by.append(f"{threading.current_thread().name} (asyncio)")  # the store has no asyncio client at all
        await send_to_redis_async(connection, command, *args, **kwargs)

    monkeypatch.setattr(redis.asyncio.connection.AbstractConnection, "send_packed_command", noted_async)
    live, revoked = (f"id_token={stub.id_token(sid=sid)}" for sid in ("sid-live", "sid-gone"))
    for _ in range(20):
        assert send("GET", "/page", {"Cookie": live}).body.decode().endswith(f"cookie={live}")
        stopped = send("GET", "/page", {"Cookie": revoked})
        assert "id_token" not in stopped.body.decode() and (stopped.get("set-cookie") or "").startswith("id_token=;")
    assert sent_by == []
    store.revoke_session(stub.issuer, "sid-other")
    assert sent_by, "a revocation goes to Redis: the spy sees what this thread sends"


@pytest.fixture
def told() -> Iterator[list[str]]:
    """The names of the events of this process while the test runs."""
    names: list[str] = []

    def listener(name: str, fields: Any) -> None:
        names.append(name)

    events.add_listener(listener)
    yield names
    events.remove_listener(listener)


def test_a_revocation_on_its_way_to_redis_is_not_taken_for_a_lost_one(
    server: RedisServer, redis_stores: RedisStores, told: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listener's audit may run between a revocation's local add and its write: Redis lost nothing then."""
    store = redis_stores.open(server.url)
    send = store._send

    def audited_on_the_way(revocation: Any) -> None:
        store._write_back_missing()  # the audit, at the worst moment it can come
        send(revocation)

    monkeypatch.setattr(store, "_send", audited_on_the_way)
    store.revoke_session(ISS, "sid-1")
    store.revoke_subject(ISS, "sub-1", revoked_at=time.time())
    store._write_back_missing()  # and once both are in Redis
    assert "store.written_back" not in told
    with redis.Redis.from_url(server.url) as client:
        assert sum(int(client.scard(key)) for key in client.scan_iter("logout:sessions:*")) == 1
        assert sum(int(client.hlen(key)) for key in client.scan_iter("logout:subjects:*")) == 1


def test_a_revocation_redis_lost_is_still_written_back(
    server: RedisServer, redis_stores: RedisStores, told: list[str]
) -> None:
    """The other side of the test above: what Redis really lost is written back, and said so."""
    store = redis_stores.open(server.url)
    store.revoke_session(ISS, "sid-1")
    with redis.Redis.from_url(server.url) as client:
        [key] = client.scan_iter("logout:sessions:*")
        client.delete(key)
        store._write_back_missing()
        assert int(client.scard(key)) == 1
    assert told.count("store.written_back") == 1


@pytest.mark.parametrize("kind", ["session", "subject"])
@pytest.mark.parametrize("ends", [(600, 7200), (7200, 600)], ids=["later-end-second", "earlier-end-second"])
def test_a_loss_beside_a_revocation_taken_with_two_ends_is_written_back(
    server: RedisServer, redis_stores: RedisStores, told: list[str], kind: str, ends: tuple[int, int]
) -> None:
    """Taken with two ends, a revocation is in two hours' keys: counted in both, it hides no loss beside it."""
    store, now = redis_stores.open(server.url), time.time()

    def revoke(name: str, seconds: int) -> None:
        if kind == "session":
            store.revoke_session(ISS, name, expires_at=now + seconds)
        else:
            store.revoke_subject(ISS, name, revoked_at=now, expires_at=now + seconds)

    revoke("kept", ends[0])
    revoke("kept", ends[1])
    revoke("lost", 600)
    hour = expiry_hour(now + 600)
    with redis.Redis.from_url(server.url) as client:
        if kind == "session":
            lost = session_digest(ISS, "lost")
            key = f"logout:sessions:{hour}:{lost[0] % SHARDS}"
            assert client.srem(key, lost) == 1

            def held_again() -> bool:
                return bool(client.sismember(key, lost))
        else:
            lost, key = subject_digest(ISS, "lost"), f"logout:subjects:{hour}"
            assert client.hdel(key, lost) == 1

            def held_again() -> bool:
                return bool(client.hexists(key, lost))

        store._write_back_missing()
        assert held_again()
        store._write_back_missing()  # and once Redis holds it all again, nothing more
    assert told.count("store.written_back") == 1
    newcomer = redis_stores.open(server.url)  # loads both hours' keys, and counts the one taken twice in both
    newcomer._write_back_missing()
    assert told.count("store.written_back") == 1


def test_a_write_that_waits_is_sent_by_the_next_audit_not_taken_for_a_lost_one(
    server: RedisServer, redis_stores: RedisStores, told: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write Redis did not take while the link stayed up waits here; the audit sends it, published to the others."""
    store, other = redis_stores.open(server.url), redis_stores.open(server.url)
    send = store._send

    def not_taken(revocation: Any) -> None:
        raise redis.ConnectionError("the write did not reach Redis")  # the command failed, the subscription stayed

    monkeypatch.setattr(store, "_send", not_taken)
    with pytest.raises(StoreDeferredError):
        store.revoke_session(ISS, "sid-1")
    assert store.pending == 1
    monkeypatch.setattr(store, "_send", send)
    monkeypatch.setattr(redis_module, "_AUDIT_EVERY", 0.2)
    assert eventually(lambda: other.is_revoked(ISS, "sid-1", None, None), within=5.0)
    assert eventually(lambda: store.pending == 0, within=5.0)
    store._write_back_missing()  # an audit after the listener's: Redis holds what the copy holds
    assert "store.written_back" not in told


def test_a_revocation_that_waits_with_two_ends_is_sent_with_both(
    server: RedisServer, redis_stores: RedisStores, told: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, now = redis_stores.open(server.url), time.time()
    send = store._send

    def not_taken(revocation: Any) -> None:
        raise redis.ConnectionError("the write did not reach Redis")

    monkeypatch.setattr(store, "_send", not_taken)
    for seconds in (600, 7200):
        with pytest.raises(StoreDeferredError):
            store.revoke_session(ISS, "sid-1", expires_at=now + seconds)
    assert store.pending == 2
    monkeypatch.setattr(store, "_send", send)
    store._flush_pending()
    store._write_back_missing()
    digest = session_digest(ISS, "sid-1")
    with redis.Redis.from_url(server.url) as client:
        for seconds in (600, 7200):
            assert client.sismember(f"logout:sessions:{expiry_hour(now + seconds)}:{digest[0] % SHARDS}", digest)
    assert store.pending == 0
    assert "store.written_back" not in told


def test_a_newer_revocation_that_fails_while_the_older_is_sent_still_waits(
    server: RedisServer, redis_stores: RedisStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ends = redis_stores.open(server.url), time.time() + 600
    send, sent = store._send, []

    def not_taken(revocation: Any) -> None:
        raise redis.ConnectionError("the write did not reach Redis")

    def newer_fails_meanwhile(revocation: Any) -> None:
        sent.append(revocation)
        if len(sent) > 1:
            not_taken(revocation)
        send(revocation)  # the older one reaches Redis; a newer one of the same subject fails as it does
        with pytest.raises(StoreDeferredError):
            store.revoke_subject(ISS, "user-1", revoked_at=200.0, expires_at=ends)

    monkeypatch.setattr(store, "_send", not_taken)
    with pytest.raises(StoreDeferredError):
        store.revoke_subject(ISS, "user-1", revoked_at=100.0, expires_at=ends)
    monkeypatch.setattr(store, "_send", newer_fails_meanwhile)
    store._flush_pending()
    assert store.pending == 1, "the newer revocation was dropped with the older one it replaced"
    monkeypatch.setattr(store, "_send", send)
    store._flush_pending()
    with redis.Redis.from_url(server.url) as client:
        assert client.hget(f"logout:subjects:{expiry_hour(ends)}", subject_digest(ISS, "user-1")) == b"200.0"


def test_of_two_waiting_revocations_of_a_subject_the_later_is_sent(
    server: RedisServer, redis_stores: RedisStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ends = redis_stores.open(server.url), time.time() + 600
    send = store._send

    def not_taken(revocation: Any) -> None:
        raise redis.ConnectionError("the write did not reach Redis")

    monkeypatch.setattr(store, "_send", not_taken)
    for revoked_at in (200.0, 100.0):  # the older one arrives last, as a retried message can
        with pytest.raises(StoreDeferredError):
            store.revoke_subject(ISS, "user-1", revoked_at=revoked_at, expires_at=ends)
    monkeypatch.setattr(store, "_send", send)
    store._flush_pending()
    with redis.Redis.from_url(server.url) as client:
        assert client.hget(f"logout:subjects:{expiry_hour(ends)}", subject_digest(ISS, "user-1")) == b"200.0"
