"""The Redis store against the faults a real Redis has: a link that goes silent, an outage, a restart
without persistence, a Sentinel failover.  Every Redis here is a real redis-server on 127.0.0.1;
the silent link is a TCP proxy in the test that stops forwarding without closing anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

from logout_middleware.errors import StoreDeferredError, StoreUnavailableError
from logout_middleware.stores.redis import RedisStore
from tests.support.polling import time_until
from tests.support.redis_sentinel import redis_sentinel
from tests.support.redis_server import RedisServer, RedisStores, redis_server
from tests.support.tcp_proxy import tcp_proxy
from tests.support.tokens import id_token
from tests.support.transports import middleware_sender

ISS = "https://op.example"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as started:
        yield started


def refuses(store: RedisStore) -> bool:
    try:
        store.is_revoked(ISS, "any", None, None)
    except StoreUnavailableError:
        return True
    return False


# -- 3. a silently cut link is noticed within a few seconds --------------------------------


def test_a_paused_link_is_noticed_and_fail_closed_trips(server: RedisServer, redis_stores: RedisStores) -> None:
    with tcp_proxy("127.0.0.1", server.port) as proxy:
        store = redis_stores.open(proxy.url_for_redis(), fail_open=False, grace=0.5)
        open_store = redis_stores.open(proxy.url_for_redis())
        store.revoke_session(ISS, "before")
        time_until(lambda: open_store.is_revoked(ISS, "before", None, None), within=2.0)
        proxy.pause()  # no reset, no FIN: the bytes just stop
        noticed = time_until(lambda: not store.wait_until_synced(0), within=6.0)
        assert noticed < 5.0, f"noticed after {noticed:.1f} s"
        time_until(lambda: refuses(store), within=2.0)
        started = time.monotonic()
        assert open_store.is_revoked(ISS, "before", None, None), "fail open answers from the local copy"
        assert time.monotonic() - started < 0.05, "and never waits on the silent link"
        proxy.resume()
        time_until(lambda: store.wait_until_synced(0), within=10.0)
        assert store.is_revoked(ISS, "before", None, None)


# -- 4. a front-channel logout during an outage is kept and written later -------------------


def test_a_front_channel_logout_during_an_outage_reaches_redis_later(
    server: RedisServer, redis_stores: RedisStores, stub: Any
) -> None:
    from tests.support.tokens import JWKS

    stub.jwks = JWKS
    shared = redis_stores.open(server.url)
    send = middleware_sender("wsgi", issuer=stub.issuer, client_id="rp", frontchannel_logout_path="/fc",
                             clear_cookies=["session"], revocation_store=shared)  # fmt: skip
    cookie = f"id_token={id_token(stub.issuer, sid='away')}; session=s"
    assert send("GET", "/page", {"Cookie": cookie}).status == 200
    server.stop()
    time_until(lambda: not shared.wait_until_synced(0), within=6.0)
    answer = send("GET", "/fc?" + urlencode({"iss": stub.issuer, "sid": "away"}), {})
    assert answer.status == 200, "recorded here: a frame is never retried"
    assert shared.pending == 1
    assert send("GET", "/page", {"Cookie": cookie}).body.endswith(b"cookie="), "refused here at once"
    server.start()
    time_until(lambda: shared.pending == 0, within=10.0)
    later = redis_stores.open(server.url)  # an instance started after the outage
    assert later.is_revoked(stub.issuer, "away", None, None)


def test_after_an_empty_restart_the_instances_write_their_revocations_back(
    server: RedisServer, redis_stores: RedisStores
) -> None:
    first = redis_stores.open(server.url)
    second = redis_stores.open(server.url)
    for index in range(50):
        first.revoke_session(ISS, f"s{index}")
    first.revoke_subject(ISS, "user", revoked_at=time.time())
    time_until(lambda: second.is_revoked(ISS, "s49", None, None), within=2.0)
    server.stop()
    server.start()  # nothing was saved: Redis is empty
    time_until(lambda: first.wait_until_synced(0) and second.wait_until_synced(0), within=10.0)
    with redis.Redis.from_url(server.url, decode_responses=True) as client:

        def written_back() -> int:
            sessions = sum(client.scard(key) for key in client.keys("logout:sessions:*"))
            return sessions + sum(client.hlen(key) for key in client.keys("logout:subjects:*"))

        time_until(lambda: written_back() == 51, within=15.0)
        keys = client.keys("logout:sessions:*") + client.keys("logout:subjects:*")
        assert all(client.ttl(key) > 3600 for key in keys), "with the time they had left"
    newcomer = redis_stores.open(server.url)
    assert newcomer.is_revoked(ISS, "s0", None, None)
    assert newcomer.is_revoked(ISS, None, "user", time.time() - 60)


# -- 6. Redis Sentinel: a failover loses no revocation, and the app never blocks ---------------


def test_a_sentinel_failover_loses_no_revocation(tmp_path: Path, redis_stores: RedisStores) -> None:
    with redis_sentinel(tmp_path / "sentinel") as sentinel:
        writer = redis_stores.open(sentinel.url)
        reader = redis_stores.open(sentinel.url)
        for index in range(20):
            writer.revoke_session(ISS, f"before-{index}")
        time_until(lambda: reader.is_revoked(ISS, "before-19", None, None), within=2.0)
        old_master = sentinel.master_port()
        checks: list[float] = []
        stop = threading.Event()

        def keep_checking() -> None:
            while not stop.is_set():
                started = time.monotonic()
                assert reader.is_revoked(ISS, "before-0", None, None)
                checks.append(time.monotonic() - started)
                time.sleep(0.001)

        checker = threading.Thread(target=keep_checking)
        checker.start()
        try:
            new_master = sentinel.kill_master()
            assert new_master != old_master
            time_until(lambda: writer.wait_until_synced(0) and reader.wait_until_synced(0), within=15.0)

            def writes() -> bool:
                try:
                    writer.revoke_session(ISS, "after")
                except StoreDeferredError:
                    return False
                return True

            time_until(writes, within=10.0)
        finally:
            stop.set()
            checker.join()
        time_until(lambda: reader.is_revoked(ISS, "after", None, None), within=3.0)
        assert max(checks) < 0.05, "the per-request check never waited on the failover"
        newcomer = redis_stores.open(sentinel.url)
        assert all(newcomer.is_revoked(ISS, f"before-{index}", None, None) for index in range(20))
        assert newcomer.is_revoked(ISS, "after", None, None)


def test_a_sentinel_url_is_checked_without_connecting() -> None:
    RedisStore.check_url("redis+sentinel://:secret@127.0.0.1:26379,127.0.0.1:26380/mymaster/2")
    for url in ("redis+sentinel://127.0.0.1:26379", "redis+sentinel://127.0.0.1/m/0", "redis+sentinel://h:1/m/x"):
        with pytest.raises(ValueError, match=r"Sentinel|master|database"):
            RedisStore.check_url(url)
