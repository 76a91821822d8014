"""Revocations at scale: a new instance syncing a million of them from Redis, its memory, its check, and writes.

Each measurement runs apart, so that its RSS is its own: :func:`synced`, a new instance's store opened on a
redis-server filled in bulk before, or on an SQLite file (the alternative for the processes of one machine),
then ``is_revoked`` with that many held; :func:`writes`, one ``revoke_session`` after another.
"""

from __future__ import annotations

import sqlite3
import time
import timeit
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from logout_middleware import asgi, wsgi  # noqa: F401 - a new instance's process has its web stack loaded
from logout_middleware.stores import SQLiteStore
from logout_middleware.stores.redis import SHARDS, RedisStore
from logout_middleware.stores.revocations import expiry_hour, session_digest
from tests.support.redis_cluster import redis_cluster
from tests.support.redis_server import redis_server

from .apart import measured_apart, process_size
from .provider import Plan, Setup
from .report import Figure, Row, at_most, in_rounds

ISSUER = "https://op.example"
TTL = 86_400  # revocations spread over a day, as with the default max_token_lifetime
WRITERS = 4  # processes writing at once


def _revocations(count: int) -> list[tuple[bytes, float]]:
    """*count* session revocations, ending over the next day: digest and expiry."""
    now = time.time()
    return [(session_digest(ISSUER, f"{i:08x}-0000-4000-8000-000000000000"), now + 60 + i % (TTL - 120))
            for i in range(count)]  # fmt: skip


def fill_redis(url: str, count: int, prefix: str = "logout:") -> None:
    """Put *count* revocations in Redis in the store's layout under *prefix*, in bulk."""
    keys: dict[str, list[bytes]] = {}
    for digest, expiry in _revocations(count):
        keys.setdefault(f"{prefix}sessions:{expiry_hour(expiry)}:{digest[0] % SHARDS}", []).append(digest)
    with redis.Redis.from_url(url) as client:
        client.set(f"{prefix}layout", "2")
        for key, digests in keys.items():
            pipe = client.pipeline(transaction=False)
            for start in range(0, len(digests), 5000):
                pipe.sadd(key, *digests[start : start + 5000])
            pipe.expireat(key, int(key.rsplit(":", 2)[1]) + 60).execute()


def fill_sqlite(path: Path, count: int) -> None:
    SQLiteStore(path).close()  # creates the tables
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO logout_revocations (kind, digest, revoked_at, expires_at) VALUES (0, ?, 0, ?)",
                       _revocations(count))  # fmt: skip


def _check_seconds(*stores: RedisStore | SQLiteStore) -> list[Figure]:
    """Seconds one is_revoked of a live session takes in each store: five rounds, the stores taking turns."""

    def seconds(store: RedisStore | SQLiteStore) -> float:
        def check() -> bool:
            return store.is_revoked(ISSUER, "a-live-session", "jane", time.time())

        return timeit.timeit(check, number=100_000) / 100_000

    return list(in_rounds(stores, 5, seconds, "s").values())


def _redis_store(url: str, seconds: float, prefix: str = "logout:") -> RedisStore:
    store = RedisStore(url, ttl=TTL, prefix=prefix)
    if not store.wait_until_synced(seconds):
        raise RuntimeError(f"the Redis store at {prefix} did not sync within {seconds:.0f} s")
    return store


def synced(where: str) -> tuple[dict[str, Figure], dict[str, int]]:
    """A new instance's store in step with *where* (a Redis URL, or an SQLite file): how long that took, its RSS.

    Then is_revoked with all of them held; against Redis, side by side with a store of ten under ``small:``.
    And how many revocations each store holds.
    """
    before, started = process_size(), time.perf_counter()
    store = _redis_store(where, 120) if where.startswith("redis") else SQLiteStore(where)
    figures = {"sync": Figure("s", (time.perf_counter() - started,)), "rss-before": Figure("B", (before,)),
               "rss-after": Figure("B", (process_size(),))}  # fmt: skip
    held = {"all": len(store.revocations)}
    if isinstance(store, RedisStore):
        small = _redis_store(where, 10, "small:")
        held["small"] = len(small.revocations)
        figures["check"], figures["check-small"] = _check_seconds(store, small)
        small.close()
    else:
        [figures["check"]] = _check_seconds(store)
    store.close()
    return figures, held


def writes(url: str, count: int, prefix: str) -> float:
    """Revocations a second, as fast as one instance goes, one after another."""
    store = _redis_store(url, 30, prefix)
    started = time.perf_counter()
    for index in range(count):
        store.revoke_session(ISSUER, f"{prefix}{index}")
    rate = count / (time.perf_counter() - started)
    store.close()
    return rate


def _write_rates(url: str, plan: Plan) -> dict[str, float]:
    """Revocations a second through one instance, and through WRITERS processes at once."""

    def rate(prefix: str) -> float:
        return measured_apart(writes, url, plan.scale_writes, prefix)

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return {"one": rate("alone:"), "many": sum(pool.map(rate, [f"w{n}:" for n in range(WRITERS)]))}


def run(setup: Setup, directory: Path) -> dict[str, Figure]:
    count, directory = setup.plan.scale_revocations, directory / "scale"
    with redis_server(directory / "redis") as server:
        fill_redis(server.url, count)
        fill_redis(server.url, 10, "small:")  # ten under another prefix, on the same server
        measured = {"redis": measured_apart(synced, server.url)}
        rates = {"redis": _write_rates(server.url, setup.plan)}
    fill_sqlite(directory / "revoked.db", count)
    measured["sqlite"] = measured_apart(synced, str(directory / "revoked.db"))
    with redis_cluster(directory / "cluster", replicas=0) as cluster:
        rates["cluster"] = _write_rates(cluster.url, setup.plan)
    held = {name: counts for name, (_, counts) in measured.items()}
    if held != {"redis": {"all": count, "small": 10}, "sqlite": {"all": count}}:
        raise RuntimeError(f"the stores hold {held} revocations, not {count} (and 10)")
    figures = {f"scale/{name}/{key}": figure for name, (of_store, _) in measured.items()
               for key, figure in of_store.items()}  # fmt: skip
    return figures | {f"scale/writes/{where}-{writers}": Figure("revocations/s", (rate,))
                      for where, by_writers in rates.items() for writers, rate in by_writers.items()}  # fmt: skip


def rows(setup: Setup) -> list[Row]:
    count = f"{setup.plan.scale_revocations:,}"
    section = f"Scale, {count} live revocations in the shared store"
    return [
        Row(section, f"a new Redis instance synced with {count}", "scale/redis/sync", target=at_most(5.0, "≤ 5 s")),
        Row(section, "its process's RSS before the store opens", "scale/redis/rss-before"),
        Row(section, f"its RSS all-in once it holds {count}", "scale/redis/rss-after",
            target=at_most(150 * 2**20, "≤ 150 MiB")),
        Row(section, f"an SQLite store's copy of {count}", "scale/sqlite/sync"),
        Row(section, "its process's RSS before the store opens", "scale/sqlite/rss-before"),
        Row(section, f"its RSS all-in once it holds {count}", "scale/sqlite/rss-after"),
        Row(section, f"is_revoked of a live session, {count} held in SQLite's copy", "scale/sqlite/check"),
        Row(section, "is_revoked of a live session, 10 revocations held", "scale/redis/check-small"),
        Row(section, f"is_revoked of a live session, {count} held", "scale/redis/check", "scale/redis/check-small",
            target=at_most(1.10, "≤ 1.10x")),
        Row(section, "revocations a second, one instance, one redis-server", "scale/writes/redis-one"),
        Row(section, f"revocations a second, {WRITERS} processes, one redis-server", "scale/writes/redis-many"),
        Row(section, "revocations a second, one instance, a 3-master cluster", "scale/writes/cluster-one"),
        Row(section, f"revocations a second, {WRITERS} processes, a 3-master cluster", "scale/writes/cluster-many",
            "scale/writes/redis-many"),
    ]  # fmt: skip
