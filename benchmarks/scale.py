"""Revocations at scale: a new instance syncing a million of them from Redis, its memory, its check, and writes.

Each variant runs apart, so that its RSS is its own: :func:`sync`, a RedisStore opened on a redis-server filled
in bulk before (then ``is_revoked`` with that many held and with ten, best of five rounds); :func:`sqlite_sync`,
an SQLite store's copy of as many, the measured alternative for the processes of one machine; :func:`writes`,
one ``revoke_session`` after another.
"""

from __future__ import annotations

import sqlite3
import time
import timeit
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis

from logout_middleware import asgi, wsgi  # noqa: F401 - a new instance's process has its web stack loaded
from logout_middleware.stores import SQLiteStore
from logout_middleware.stores.redis import SHARDS, RedisStore
from logout_middleware.stores.revocations import expiry_hour, session_digest
from tests.support.redis_cluster import redis_cluster
from tests.support.redis_server import redis_server

from .apart import measured_apart, process_size
from .provider import Plan, Setup
from .report import Figure, Row, at_most

ISSUER = "https://op.example"
TTL = 86_400  # revocations spread over a day, as with the default max_token_lifetime
WRITERS = 4  # processes writing at once


def _sid(index: int) -> str:
    return f"{index:08x}-0000-4000-8000-000000000000"


def fill_redis(url: str, count: int) -> None:
    """Put *count* session revocations in Redis, ending over the next day, in the store's layout, in bulk."""
    now = time.time()
    keys: dict[str, list[bytes]] = {}
    for index in range(count):
        digest = session_digest(ISSUER, _sid(index))
        hour = expiry_hour(now + 60 + index % (TTL - 120))
        keys.setdefault(f"logout:sessions:{hour}:{digest[0] % SHARDS}", []).append(digest)
    with redis.Redis.from_url(url) as client:
        client.set("logout:layout", "2")
        for key, digests in keys.items():
            pipe = client.pipeline(transaction=False)
            for start in range(0, len(digests), 5000):
                pipe.sadd(key, *digests[start : start + 5000])
            pipe.expireat(key, int(key.split(":")[2]) + 60)
            pipe.execute()


def fill_sqlite(path: Path, count: int) -> None:
    SQLiteStore(path).close()  # creates the tables
    now = time.time()
    rows = ((0, session_digest(ISSUER, _sid(i)), 0.0, now + 60 + i % (TTL - 120)) for i in range(count))
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO logout_revocations (kind, digest, revoked_at, expires_at) VALUES (?, ?, ?, ?)",
                       rows)  # fmt: skip


def _redis_store(url: str, seconds: float, prefix: str = "logout:") -> RedisStore:
    store = RedisStore(url, ttl=TTL, prefix=prefix)
    if not store.wait_until_synced(seconds):
        raise RuntimeError(f"the Redis store at {prefix} did not sync within {seconds:.0f} s")
    return store


def _check_seconds(store: RedisStore) -> float:
    """Seconds one is_revoked of a live session takes, best of five rounds."""
    calls = 100_000
    timer = timeit.Timer(lambda: store.is_revoked(ISSUER, "a-live-session", "jane", time.time()))
    return min(timer.repeat(repeat=5, number=calls)) / calls


def _opened(open_store: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """The store *open_store* opens, with how long it took and this process's RSS before and after."""
    before, started = process_size(), time.perf_counter()
    store = open_store()
    seconds = time.perf_counter() - started
    return store, {"seconds": seconds, "before": before, "after": process_size(), "held": len(store.revocations)}


def sync(url: str) -> dict[str, float]:
    store, figures = _opened(lambda: _redis_store(url, 120))
    small = _redis_store(url, 10, prefix=f"small-{uuid.uuid4().hex}:")
    for index in range(10):
        small.revoke_session(ISSUER, _sid(index))
    figures |= {"check-large": _check_seconds(store), "check-small": _check_seconds(small)}
    small.close()
    store.close()
    return figures


def sqlite_sync(path: str) -> dict[str, float]:
    return _opened(lambda: SQLiteStore(path))[1]


def writes(url: str, count: str, prefix: str) -> dict[str, float]:
    """As fast as one instance goes, one revocation after another."""
    store = _redis_store(url, 30, prefix)
    started = time.perf_counter()
    for index in range(int(count)):
        store.revoke_session(ISSUER, f"{prefix}{index}")
    seconds = time.perf_counter() - started
    store.close()
    return {"rate": int(count) / seconds}


def _write_rates(url: str, plan: Plan) -> tuple[float, float]:
    """Revocations a second through one instance, and through WRITERS processes at once."""

    def rate(prefix: str) -> float:
        return measured_apart(writes, url, str(plan.scale_writes), prefix)["rate"]

    alone = rate("alone:")
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return alone, sum(pool.map(rate, [f"w{n}:" for n in range(WRITERS)]))


def run(setup: Setup, directory: Path) -> dict[str, Figure]:
    count, directory = setup.plan.scale_revocations, directory / "scale"
    directory.mkdir()
    with redis_server(directory / "redis") as server:
        fill_redis(server.url, count)
        synced = {"redis": measured_apart(sync, server.url)}
        rates = {"redis": _write_rates(server.url, setup.plan)}
    fill_sqlite(directory / "revoked.db", count)
    synced["sqlite"] = measured_apart(sqlite_sync, str(directory / "revoked.db"))
    with redis_cluster(directory / "cluster", replicas=0) as cluster:
        rates["cluster"] = _write_rates(cluster.url, setup.plan)
    held = {name: int(measured["held"]) for name, measured in synced.items()}
    if set(held.values()) != {count}:
        raise RuntimeError(f"the stores hold {held} revocations, not {count}")
    figures = {"scale/check/10": Figure("s", (synced["redis"]["check-small"],)),
               "scale/check/many": Figure("s", (synced["redis"]["check-large"],))}  # fmt: skip
    for name, measured in synced.items():
        figures[f"scale/{name}/sync"] = Figure("s", (measured["seconds"],))
        figures[f"scale/{name}/rss-before"] = Figure("B", (measured["before"],))
        figures[f"scale/{name}/rss-after"] = Figure("B", (measured["after"],))
    for where, (alone, together) in rates.items():
        figures[f"scale/writes/{where}-one"] = Figure("/s", (alone,))
        figures[f"scale/writes/{where}-many"] = Figure("/s", (together,))
    return figures


def rows(setup: Setup) -> list[Row]:
    count = f"{setup.plan.scale_revocations:,}"
    section = f"Scale, {count} live revocations in the shared store"
    return [
        Row(section, f"a new Redis instance synced with {count}", "scale/redis/sync",
            target=at_most(5.0, "≤ 5 s")),
        Row(section, "its process's RSS before the store opens", "scale/redis/rss-before"),
        Row(section, f"its RSS all-in once it holds {count}", "scale/redis/rss-after",
            target=at_most(150 * 2**20, "≤ 150 MiB")),
        Row(section, f"an SQLite store's copy of {count}", "scale/sqlite/sync"),
        Row(section, "its process's RSS before the store opens", "scale/sqlite/rss-before"),
        Row(section, f"its RSS all-in once it holds {count}", "scale/sqlite/rss-after"),
        Row(section, "is_revoked of a live session, 10 revocations held", "scale/check/10"),
        Row(section, f"is_revoked of a live session, {count} held", "scale/check/many", "scale/check/10",
            target=at_most(1.10, "≤ 1.10x")),
        Row(section, "revocations a second, one instance, one redis-server", "scale/writes/redis-one"),
        Row(section, f"revocations a second, {WRITERS} processes, one redis-server", "scale/writes/redis-many"),
        Row(section, "revocations a second, one instance, a 3-master cluster", "scale/writes/cluster-one"),
        Row(section, f"revocations a second, {WRITERS} processes, a 3-master cluster", "scale/writes/cluster-many",
            "scale/writes/redis-many"),
    ]  # fmt: skip
