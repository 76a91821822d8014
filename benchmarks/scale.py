"""Revocations at scale: a new instance syncing a million of them from Redis or SQLite, its memory, its check, and
writes.  Each measurement runs apart, so that its RSS is its own."""

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
from .report import Figure, Row, in_rounds

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


def _redis_store(url: str, seconds: float, prefix: str = "logout:") -> RedisStore:
    store = RedisStore(url, ttl=TTL, prefix=prefix)
    if not store.wait_until_synced(seconds):
        raise RuntimeError(f"the Redis store at {prefix} did not sync within {seconds:.0f} s")
    return store


def synced(where: str, count: int) -> dict[str, Figure]:
    """A new instance's store in step with *where* (a Redis URL, or an SQLite file): how long that took, its RSS.

    Then is_revoked of a live session with all *count* held: against Redis, the stores taking turns with a store of
    ten under ``small:``.
    """
    before, started, in_redis = process_size(), time.perf_counter(), where.startswith("redis")
    store = _redis_store(where, 120) if in_redis else SQLiteStore(where)
    figures = {"sync": Figure("s", (time.perf_counter() - started,)), "rss-before": Figure("B", (before,)),
               "rss-after": Figure("B", (process_size(),))}  # fmt: skip
    stores = [store, _redis_store(where, 10, "small:")] if in_redis else [store]
    if [len(store.revocations) for store in stores] != [count, 10][: len(stores)]:
        raise RuntimeError(f"the stores hold {[len(store.revocations) for store in stores]}, not {count} (and 10)")

    def seconds(store: RedisStore | SQLiteStore) -> float:
        return timeit.timeit(lambda: store.is_revoked(ISSUER, "a-live-session", "jane", time.time()), number=100_000)

    checked = in_rounds(stores, 5, lambda store: seconds(store) / 100_000, "s")
    figures |= dict(zip(("check", "check-small"), checked.values(), strict=False))
    for opened in stores:
        opened.close()
    return figures


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
        measured = {"redis": measured_apart(synced, server.url, count)}
        rates = {"redis": _write_rates(server.url, setup.plan)}
    fill_sqlite(directory / "revoked.db", count)
    measured["sqlite"] = measured_apart(synced, str(directory / "revoked.db"), count)
    with redis_cluster(directory / "cluster", replicas=0) as cluster:
        rates["cluster"] = _write_rates(cluster.url, setup.plan)
    figures = {f"scale/{name}/{key}": figure for name, of_store in measured.items() for key, figure in of_store.items()}
    return figures | {f"scale/writes/{where}-{writers}": Figure("revocations/s", (rate,))
                      for where, by_writers in rates.items() for writers, rate in by_writers.items()}  # fmt: skip


def rows(setup: Setup) -> list[Row]:
    count = f"{setup.plan.scale_revocations:,}"
    section = f"Scale, {count} live revocations in the shared store"
    return [
        Row(section, f"a new Redis instance synced with {count}", "scale/redis/sync", target=("≤ 5 s", 5.0)),
        Row(section, "its process's RSS before the store opens", "scale/redis/rss-before"),
        Row(section, f"its RSS all-in once it holds {count}", "scale/redis/rss-after",
            target=("≤ 150 MiB", 150 * 2**20)),
        Row(section, f"an SQLite store's copy of {count}", "scale/sqlite/sync"),
        Row(section, "its process's RSS before the store opens", "scale/sqlite/rss-before"),
        Row(section, f"its RSS all-in once it holds {count}", "scale/sqlite/rss-after"),
        Row(section, f"is_revoked of a live session, {count} held in SQLite's copy", "scale/sqlite/check"),
        Row(section, "is_revoked of a live session, 10 revocations held", "scale/redis/check-small"),
        Row(section, f"is_revoked of a live session, {count} held", "scale/redis/check", "scale/redis/check-small",
            target=("≤ 1.10x", 1.10)),
        Row(section, "revocations a second, one instance, one redis-server", "scale/writes/redis-one"),
        Row(section, f"revocations a second, {WRITERS} processes, one redis-server", "scale/writes/redis-many"),
        Row(section, "revocations a second, one instance, a 3-master cluster", "scale/writes/cluster-one"),
        Row(section, f"revocations a second, {WRITERS} processes, a 3-master cluster", "scale/writes/cluster-many",
            "scale/writes/redis-many"),
    ]  # fmt: skip
