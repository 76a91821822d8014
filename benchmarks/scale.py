"""Revocations at scale: a new instance syncing a million of them from Redis, its memory, its check, and writes.

Each variant runs in an interpreter of its own (``python -m benchmarks.scale VARIANT ...``), so that its RSS is
its own: ``sync``, a RedisStore opened on a redis-server filled in bulk before (then ``is_revoked`` with that
many held and with ten, best of five rounds); ``sqlite-sync``, an SQLite store's copy of as many, the measured
alternative for the processes of one machine; ``writes``, one ``revoke_session`` after another.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sqlite3
import tempfile
import time
import timeit
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from logout_middleware.stores.redis import SHARDS, RedisStore
from logout_middleware.stores.revocations import expiry_hour, session_digest
from tests.support.redis_cluster import redis_cluster
from tests.support.redis_server import redis_server

from .provider import Plan
from .report import Figure, Row, at_most, measured_apart, process_size

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
    """An SQLite store's database holding *count* session revocations."""
    from logout_middleware.stores import SQLiteStore  # noqa: PLC0415

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


def measure(variant: str, args: argparse.Namespace) -> dict[str, float]:
    """Run *variant* in this process: its figures."""
    for module in ("logout_middleware.asgi", "logout_middleware.wsgi"):  # an app's process has its web stack loaded
        importlib.import_module(module)
    if variant == "writes":  # as fast as one instance goes, one revocation after another
        store = _redis_store(args.redis, 30, args.prefix)
        started = time.perf_counter()
        for index in range(args.count):
            store.revoke_session(ISSUER, f"{args.prefix}{index}")
        seconds = time.perf_counter() - started
        store.close()
        return {"rate": args.count / seconds}
    if variant == "sqlite-sync":
        from logout_middleware.stores import SQLiteStore  # noqa: PLC0415

        before, started = process_size(), time.perf_counter()
        sqlite_store = SQLiteStore(args.sqlite)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "before": before, "after": process_size(), "held": len(sqlite_store.revocations)}
    before, started = process_size(), time.perf_counter()
    store = _redis_store(args.redis, 120)
    figures = {"seconds": time.perf_counter() - started, "before": before, "after": process_size(),
               "held": len(store.revocations)}  # fmt: skip
    small = _redis_store(args.redis, 10, prefix=f"small-{uuid.uuid4().hex}:")
    for index in range(10):
        small.revoke_session(ISSUER, _sid(index))
    figures |= {"check-large": _check_seconds(store), "check-small": _check_seconds(small)}
    small.close()
    store.close()
    return figures


def _writes(url: str, plan: Plan) -> tuple[float, float]:
    """Revocations a second through one instance, and through WRITERS processes at once."""

    def rate(prefix: str) -> float:
        args = ("writes", "--redis", url, "--count", str(plan.scale_writes), "--prefix", prefix)
        return measured_apart("scale", *args)["rate"]

    alone = rate("alone:")
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return alone, sum(pool.map(rate, [f"w{n}:" for n in range(WRITERS)]))


def run(plan: Plan) -> dict[str, Figure]:
    count = plan.scale_revocations
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as temporary:
        directory = Path(temporary)
        with redis_server(directory / "redis") as server:
            fill_redis(server.url, count)
            synced = {"redis": measured_apart("scale", "sync", "--redis", server.url)}
            writes = {"redis": _writes(server.url, plan)}
        fill_sqlite(directory / "revoked.db", count)
        synced["sqlite"] = measured_apart("scale", "sqlite-sync", "--sqlite", str(directory / "revoked.db"))
        with redis_cluster(directory / "cluster", replicas=0) as cluster:
            writes["cluster"] = _writes(cluster.url, plan)
    held = {name: int(measured["held"]) for name, measured in synced.items()}
    if set(held.values()) != {count}:
        raise RuntimeError(f"the stores hold {held} revocations, not {count}")
    figures = {"scale/check/10": Figure("s", (synced["redis"]["check-small"],)),
               "scale/check/many": Figure("s", (synced["redis"]["check-large"],))}  # fmt: skip
    for name, measured in synced.items():
        figures[f"scale/{name}/sync"] = Figure("s", (measured["seconds"],))
        figures[f"scale/{name}/rss-before"] = Figure("B", (measured["before"],))
        figures[f"scale/{name}/rss-after"] = Figure("B", (measured["after"],))
    for where, (alone, together) in writes.items():
        figures[f"scale/writes/{where}-one"] = Figure("/s", (alone,))
        figures[f"scale/writes/{where}-many"] = Figure("/s", (together,))
    return figures


def rows(plan: Plan) -> list[Row]:
    count = f"{plan.scale_revocations:,}"
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


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure one variant; prints its figures as JSON.")
    parser.add_argument("variant", choices=("sync", "sqlite-sync", "writes"))
    parser.add_argument("--redis", help="the redis:// or redis+cluster:// URL")
    parser.add_argument("--sqlite", help="the SQLite database")
    parser.add_argument("--count", type=int, default=0, help="revocations to write")
    parser.add_argument("--prefix", default="logout:", help="the store's key prefix")
    args = parser.parse_args()
    print(json.dumps(measure(args.variant, args)))


if __name__ == "__main__":
    main()
