"""Revocations at scale: a new instance syncing a million of them from Redis, its memory, its check, and writes.

Each measurement runs in an interpreter of its own (``python -m
benchmarks.scale VARIANT --redis URL ...``), so that its resident size is its
own:

* ``sync``: a :class:`~logout_middleware.stores.redis.RedisStore` opened on a
  redis-server holding the plan's revocations (written there in bulk, in the
  store's layout, before): the seconds until it is synced, and the process's
  RSS before the store is opened and after (the library, Redis client and
  web stack imported in both);
* ``sqlite-sync``: the same for an SQLite store's copy of a file holding as
  many revocations: the measured alternative for the processes of one machine;
  then :meth:`is_revoked` for a live session on that synced store and on a
  store of ten revocations, best of five rounds;
* ``writes``: revocations a second through one instance (one
  ``revoke_session`` after another), and through several processes at once,
  against one redis-server and against a Redis Cluster of three masters.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import redis

from logout_middleware.stores.redis import SHARDS, RedisStore
from logout_middleware.stores.revocations import expiry_hour, session_digest
from tests.support.redis_cluster import redis_cluster
from tests.support.redis_server import redis_server

from .provider import Plan
from .report import Figure, Row, at_most

ISSUER = "https://op.example"
TTL = 86_400  # revocations spread over a day, as with the default max_token_lifetime
WRITERS = 4  # processes writing at once
_MiB = 2**20


def _rss() -> int:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


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


def _check_seconds(store: RedisStore) -> float:
    """Seconds one is_revoked of a live session takes, best of five rounds."""
    calls = 100_000
    timer = timeit.Timer(lambda: store.is_revoked(ISSUER, "a-live-session", "jane", time.time()))
    return min(timer.repeat(repeat=5, number=calls)) / calls


def measure(variant: str, args: argparse.Namespace) -> dict[str, float]:
    """Run *variant* in this process: its figures."""
    for module in ("logout_middleware.asgi", "logout_middleware.wsgi"):  # an app's process has its web stack loaded
        importlib.import_module(module)

    if variant == "sync":
        before = _rss()
        started = time.perf_counter()
        store = RedisStore(args.redis, ttl=TTL)
        if not store.wait_until_synced(120):
            raise RuntimeError("the Redis store did not sync within 120 s")
        figures = {"seconds": time.perf_counter() - started, "before": before, "after": _rss(),
                   "held": len(store.revocations)}  # fmt: skip
        small = RedisStore(args.redis, ttl=TTL, prefix=f"small-{uuid.uuid4().hex}:")
        if not small.wait_until_synced(10):
            raise RuntimeError("the second Redis store did not sync within 10 s")
        for index in range(10):
            small.revoke_session(ISSUER, _sid(index))
        figures |= {"check-large": _check_seconds(store), "check-small": _check_seconds(small)}
        small.close()
        store.close()
        return figures
    if variant == "sqlite-sync":
        from logout_middleware.stores import SQLiteStore  # noqa: PLC0415

        before = _rss()
        started = time.perf_counter()
        sqlite_store = SQLiteStore(args.sqlite)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "before": before, "after": _rss(), "held": len(sqlite_store.revocations)}
    # writes: as fast as one instance goes, one revocation after another
    store = RedisStore(args.redis, ttl=TTL, prefix=args.prefix)
    if not store.wait_until_synced(30):
        raise RuntimeError("the Redis store did not connect within 30 s")
    started = time.perf_counter()
    for index in range(args.count):
        store.revoke_session(ISSUER, f"{args.prefix}{index}")
    seconds = time.perf_counter() - started
    store.close()
    return {"rate": args.count / seconds}


def _one(variant: str, *options: str) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.scale", variant, *options]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, timeout=900)
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def _writes(url: str, plan: Plan) -> tuple[float, float]:
    """Revocations a second through one instance, and through WRITERS processes at once."""
    alone = _one("writes", "--redis", url, "--count", str(plan.scale_writes), "--prefix", "alone:")["rate"]
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        rates = list(pool.map(lambda n: _one("writes", "--redis", url, "--count", str(plan.scale_writes),
                                             "--prefix", f"w{n}:")["rate"], range(WRITERS)))  # fmt: skip
    return alone, sum(rates)


@contextmanager
def _directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as directory:
        yield Path(directory)


def run(plan: Plan) -> dict[str, Figure]:
    count = plan.scale_revocations
    figures: dict[str, Figure] = {}
    with _directory() as directory:
        with redis_server(directory / "redis") as server:
            fill_redis(server.url, count)
            sync = _one("sync", "--redis", server.url)
            alone, together = _writes(server.url, plan)
        fill_sqlite(directory / "revoked.db", count)
        sqlite_sync = _one("sqlite-sync", "--sqlite", str(directory / "revoked.db"))
        with redis_cluster(directory / "cluster", replicas=0) as cluster:
            cluster_alone, cluster_together = _writes(cluster.url, plan)
    if sync["held"] != count or sqlite_sync["held"] != count:
        raise RuntimeError(f"the stores hold {sync['held']:.0f} and {sqlite_sync['held']:.0f}, not {count}")
    for name, measured in (("redis", sync), ("sqlite", sqlite_sync)):
        figures[f"scale/{name}/sync"] = Figure("s", (measured["seconds"],))
        figures[f"scale/{name}/rss-before"] = Figure("B", (measured["before"],))
        figures[f"scale/{name}/rss-after"] = Figure("B", (measured["after"],))
    figures["scale/check/10"] = Figure("s", (sync["check-small"],))
    figures["scale/check/many"] = Figure("s", (sync["check-large"],))
    figures["scale/writes/redis-one"] = Figure("/s", (alone,))
    figures["scale/writes/redis-many"] = Figure("/s", (together,))
    figures["scale/writes/cluster-one"] = Figure("/s", (cluster_alone,))
    figures["scale/writes/cluster-many"] = Figure("/s", (cluster_together,))
    return figures


def rows(plan: Plan) -> list[Row]:
    count = f"{plan.scale_revocations:,}"
    section = f"Scale, {count} live revocations in the shared store"
    return [
        Row(section, f"a new Redis instance synced with {count}", "scale/redis/sync",
            target=at_most(5.0, "≤ 5 s")),
        Row(section, "its process's RSS before the store opens", "scale/redis/rss-before"),
        Row(section, f"its RSS all-in once it holds {count}", "scale/redis/rss-after",
            target=at_most(150 * _MiB, "≤ 150 MiB")),
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
