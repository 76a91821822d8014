"""What a run does and measures against: its plan, a provider that signs id_tokens and serves its keys, filled stores.

Made once, in the process that runs the benchmarks, and pickled for the processes it starts.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from logout_middleware.stores import RevocationStore, open_store

SESSION_SECRET = "benchmark-session-secret"
LIVE_SID = "08a5019c-17e1-4977-8f42-65a12843ea02"
REVOKED_SID = "7c1e9f20-5b3a-4d8e-9a61-0f2b4c6d8e10"
STORES = ("memory", "sqlite", "redis")
#: Revocations in each store of the per-request check (the revoked session's included), and in the gateway's.
REVOCATIONS, GATEWAY_REVOCATIONS = 10, 1_000


@dataclass(frozen=True)
class Plan:
    """How much a run does: the full run, or the quick smoke run of the test command.

    *pyperf_args* go to pyperf for the in-process benchmarks; *flood* and *logouts* are the requests of each memory
    benchmark; wrk runs every load *rounds* times, *seconds* long, over *connections*; a new instance syncs
    *scale_revocations* live revocations, and each writer writes *scale_writes*.
    """

    name: str
    pyperf_args: tuple[str, ...]
    flood: int
    logouts: int
    rounds: int
    seconds: int
    connections: int
    scale_revocations: int
    scale_writes: int


# Two worker processes of three values after a warm-up, after pyperf's calibration process: about
# three seconds a benchmark, most of it starting Python.  One worker would save a minute, but a
# process's own luck (its memory layout, its CPU) then moves a figure by more than what is measured.
# --quiet keeps pyperf's tuning advice out of the log.
FULL = Plan("full", ("--processes=2", "--values=3", "--warmups=1", "--min-time=0.05", "--quiet"),
            200_000, 100_000, 4, 1, 8, 1_000_000, 5_000)  # fmt: skip
# Two values of a few calls each, in one process (a worker per benchmark would take a minute):
# it proves that every contestant runs and behaves, and its figures are noise.
QUICK = Plan("quick", ("--in-process", "--processes=1", "--values=2", "--warmups=0", "--loops=8", "--quiet"),
             2_000, 1_000, 1, 1, 4, 20_000, 300)  # fmt: skip


@dataclass(frozen=True)
class Setup:
    """The provider and the stores of one run, as the processes it starts find them."""

    plan: Plan
    issuer: str
    client_id: str
    #: A returning session's id_token, and a revoked session's: both signed by the provider.
    live_token: str
    revoked_token: str
    #: Where each shared store is, filled: ``redis`` and ``sqlite``.
    urls: dict[str, str]


def id_token(issuer: str, sid: str, sub: str = "6543210fedcba9876543210f") -> str:
    """An id_token as providers issue it (about 800 characters), signed with the provider's key."""
    from tests.support import tokens  # noqa: PLC0415 - it makes RSA keys, which the workers need not

    now = int(time.time())
    return tokens.id_token(issuer, sid=sid, sub=sub, nonce="n-0S6_WzA2Mj", at_hash="77QmUPtjPfzWtF2AnpK9RQ",
                           auth_time=now - 60, exp=now + 3600, email="jane.doe@example.com", email_verified=True,
                           name="Jane Doe", given_name="Jane", family_name="Doe", locale="en-US")  # fmt: skip


def filled(url: str, issuer: str, count: int) -> RevocationStore:
    """The store at *url*, the revoked session and *count* - 1 others revoked in it one at a time, as logouts do."""
    store = open_store(url)
    store.revoke_session(issuer, REVOKED_SID)
    for index in range(count - 1):
        store.revoke_session(issuer, f"{index:08x}-0000-4000-8000-000000000000")
    return store


def open_filled(setup: Setup, name: str) -> RevocationStore:
    """The store *name* (one of STORES), holding the plan's revocations: opened once a process, as apps do."""
    if name not in _opened:
        url = setup.urls.get(name)  # the shared stores are filled already
        store = _opened[name] = open_store(url) if url else filled("memory://", setup.issuer, REVOCATIONS)
        if name == "redis" and not store.wait_until_synced(10.0):  # type: ignore[attr-defined]
            raise RuntimeError("the Redis store did not load the revocations from redis-server within 10 s")
    return _opened[name]


_opened: dict[str, RevocationStore] = {}


def close_opened() -> None:
    """Close the stores this process opened: their threads would go on working beside what is timed."""
    while _opened:
        _opened.popitem()[1].close()


@contextmanager
def running(plan: Plan) -> Iterator[Setup]:
    """Serve the provider's keys and run redis-server until the block ends; the shared stores are filled first."""
    from tests.support import tokens  # noqa: PLC0415
    from tests.support.provider import provider_stub  # noqa: PLC0415 - the workers need none of these
    from tests.support.redis_server import redis_server  # noqa: PLC0415

    # tmpfs where there is one: SQLite syncs every write.
    shm = Path("/dev/shm")  # noqa: S108 - the run makes a directory of its own in it
    with (
        tempfile.TemporaryDirectory(prefix="bench-", dir=shm if shm.is_dir() else None) as directory,
        provider_stub() as stub,
        redis_server(Path(directory) / "redis") as redis,
    ):
        stub.jwks = tokens.JWKS
        urls = {"sqlite": f"sqlite:///{directory}/revoked.db", "redis": redis.url}
        for url in urls.values():
            filled(url, stub.issuer, REVOCATIONS).close()
        revoked_token = id_token(stub.issuer, REVOKED_SID, sub="0123456789abcdef01234567")
        yield Setup(plan, stub.issuer, tokens.CLIENT_ID, id_token(stub.issuer, LIVE_SID), revoked_token, urls)
