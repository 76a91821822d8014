"""The revocation store contract, run against the memory, SQLite and Redis stores alike; and open_store.

The contract is :class:`~logout_middleware.stores.RevocationStore`'s: each
test of the ``store`` fixture uses only its methods, so every store must pass
it the same way.  What only one store does (pruning its tables, sharing a
file between processes, Redis's keys and its outages) is tested apart, here
and in tests/test_redis_store.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from logout_middleware.core.values import Lookup, RememberJti, RevokeSession, RevokeSubject, StoreOutcome
from logout_middleware.errors import ConfigError, StoreUnavailableError
from logout_middleware.stores import (
    DEFAULT_MAX_TOKEN_LIFETIME,
    MemoryStore,
    ProcessLocalStore,
    RevocationStore,
    SQLiteStore,
    default_store_path,
    open_store,
    store_opener,
)
from logout_middleware.stores.base import look_up, perform
from logout_middleware.stores.redis import RedisStore
from tests.support.redis_server import redis_server

ISS = "https://op.example"
OTHER_ISS = "https://other-op.example"
NOW = 1_700_000_000.0
REPO_ROOT = Path(__file__).resolve().parent.parent


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One redis-server for the module's Redis stores; each test keeps to a key prefix of its own."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, clock: Clock, tmp_path: Path) -> Iterator[RevocationStore]:
    """Each store, keeping revocations for an hour at most, on the test's clock."""
    made: RevocationStore
    if request.param == "memory":
        made = MemoryStore(max_token_lifetime=3600, clock=clock)
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "revoked.db", max_token_lifetime=3600, clock=clock)
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisStore(url, ttl=3600, clock=clock, prefix=f"test-{uuid.uuid4().hex}:")
        assert made.wait_until_synced(5), "the store never loaded from Redis"
    yield made
    made.close()


@pytest.fixture
def advance(request: pytest.FixtureRequest, clock: Clock) -> Callable[[float], None]:
    """Move the test's clock by some seconds; for the Redis store, let that much real time pass too.

    The Redis store reads and writes revocations on the test's clock, but Redis keeps
    its own time for the TTLs of the keys that refuse replayed jtis.
    """

    def move(seconds: float) -> None:
        clock.now += seconds
        if request.node.callspec.params.get("store") == "redis":
            time.sleep(seconds + 0.05)

    return move


@pytest.fixture(params=["memory", "sqlite"])
def local_store(request: pytest.FixtureRequest, clock: Clock, tmp_path: Path) -> Iterator[MemoryStore | SQLiteStore]:
    """The stores that keep their entries in this process's reach."""
    made: MemoryStore | SQLiteStore
    if request.param == "memory":
        made = MemoryStore(max_token_lifetime=3600, clock=clock)
    else:
        made = SQLiteStore(tmp_path / "revoked.db", max_token_lifetime=3600, clock=clock)
    yield made
    made.close()


def stored_entries(store: MemoryStore | SQLiteStore) -> int:
    """Count the entries a store holds, expired or not."""
    if isinstance(store, MemoryStore):
        return len(store.revocations) + len(store._jtis)
    tables = ("logout_revocations", "logout_jtis")
    return sum(store._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables)  # noqa: S608


#: Every method RevocationStore names: the contract test below calls each.
PROTOCOL = {"revoke_session", "revoke_subject", "is_revoked", "check_and_remember_jti", "close"}


def test_the_protocol_is_the_one_the_contract_covers() -> None:
    assert {name for name in vars(RevocationStore) if not name.startswith("_")} == PROTOCOL


def test_each_method_of_the_protocol_does_what_it_says(store: RevocationStore) -> None:
    """What an isinstance check against the Protocol cannot tell: each method, called, does its part."""
    assert store.revoke_session(ISS, "sid-1", NOW + 60) is None
    assert store.revoke_subject(ISS, "user-1", NOW, NOW + 60) is None
    assert store.is_revoked(ISS, "sid-1", None, None) is True
    assert store.is_revoked(ISS, None, "user-1", NOW) is True
    assert store.is_revoked(ISS, "sid-2", "user-2", NOW) is False
    assert store.check_and_remember_jti(ISS, "jti-1", NOW + 60) is True
    assert store.check_and_remember_jti(ISS, "jti-1", NOW + 60) is False
    assert store.close() is None
    store.close()  # twice: the middleware's shutdown may close a store its driver closed already


def test_the_drivers_writes_and_lookups_reach_the_store(store: RevocationStore) -> None:
    """As the drivers perform the core's steps: each write said written, each lookup answered."""
    assert perform(store, RevokeSession(ISS, "sid-1", NOW + 60)) == StoreOutcome("written")
    assert perform(store, RevokeSubject(ISS, "user-1", NOW, NOW + 60)) == StoreOutcome("written")
    assert perform(store, RememberJti(ISS, "jti-1", NOW + 60)) == StoreOutcome("written", fresh=True)
    assert perform(store, RememberJti(ISS, "jti-1", NOW + 60)) == StoreOutcome("written", fresh=False)
    assert look_up(store, [(ISS, "sid-2", "user-2", NOW), (ISS, "sid-1", None, None)]) == Lookup(revoked=True)
    assert look_up(store, [(ISS, "sid-3", "user-1", NOW + 1)]) == Lookup(revoked=False)
    assert look_up(store, []) == Lookup(revoked=False)


def test_nothing_revoked_at_first(store: RevocationStore) -> None:
    assert not store.is_revoked(ISS, "sid-1", "user-1", NOW)
    assert not store.is_revoked(ISS, None, None, None)


def test_sid_revokes_only_that_session(store: RevocationStore) -> None:
    store.revoke_session(ISS, "sid-1")
    assert store.is_revoked(ISS, "sid-1", "user-1", NOW)
    assert store.is_revoked(ISS, "sid-1", None, None)
    assert not store.is_revoked(ISS, "sid-2", "user-1", NOW)
    assert not store.is_revoked(OTHER_ISS, "sid-1", "user-1", NOW)


def test_sub_revokes_sessions_issued_before_not_after(store: RevocationStore) -> None:
    store.revoke_subject(ISS, "user-1", revoked_at=NOW)
    assert store.is_revoked(ISS, "sid-1", "user-1", NOW - 100)
    assert store.is_revoked(ISS, "sid-2", "user-1", NOW)
    assert not store.is_revoked(ISS, "sid-3", "user-1", NOW + 1)
    assert store.is_revoked(ISS, "sid-4", "user-1", None)  # no iat: assume the worst
    assert not store.is_revoked(ISS, "sid-1", "user-2", NOW - 100)
    assert not store.is_revoked(OTHER_ISS, "sid-1", "user-1", NOW - 100)
    assert not store.is_revoked(ISS, "sid-1", None, NOW - 100)


def test_sub_keeps_the_latest_revocation(store: RevocationStore) -> None:
    store.revoke_subject(ISS, "user-1", revoked_at=NOW + 100)
    store.revoke_subject(ISS, "user-1", revoked_at=NOW)  # a late delivery of an older logout
    assert store.is_revoked(ISS, "sid-1", "user-1", NOW + 50)


def test_sub_with_a_pipe(store: RevocationStore) -> None:
    store.revoke_subject(ISS, "auth0|1234", revoked_at=NOW)
    assert store.is_revoked(ISS, None, "auth0|1234", NOW)
    assert not store.is_revoked(ISS, None, "auth0", NOW)


def test_jti_replay(store: RevocationStore) -> None:
    assert store.check_and_remember_jti(ISS, "jti-1", NOW + 120)
    assert not store.check_and_remember_jti(ISS, "jti-1", NOW + 120)
    assert store.check_and_remember_jti(ISS, "jti-2", NOW + 120)
    assert store.check_and_remember_jti(OTHER_ISS, "jti-1", NOW + 120)


#: The end of the hour NOW falls in: revocations of tokens that expire in that hour are kept until then.
NOW_HOUR_ENDS = 1_700_002_800


def test_revocations_end_with_the_hour_their_token_expires_in(store: RevocationStore, clock: Clock) -> None:
    store.revoke_session(ISS, "sid-1", NOW + 1)
    store.revoke_subject(ISS, "user-1", NOW, NOW + 1)
    clock.now = NOW_HOUR_ENDS - 1
    assert store.is_revoked(ISS, "sid-1", None, None)
    assert store.is_revoked(ISS, "sid-2", "user-1", NOW - 5)
    clock.now = NOW_HOUR_ENDS
    assert not store.is_revoked(ISS, "sid-1", None, None)
    assert not store.is_revoked(ISS, "sid-2", "user-1", NOW - 5)


def test_jtis_expire_to_the_second(store: RevocationStore, advance: Callable[[float], None]) -> None:
    assert store.check_and_remember_jti(ISS, "jti-1", NOW + 1)
    advance(1)
    assert store.check_and_remember_jti(ISS, "jti-1", NOW + 20)  # an expired jti is forgotten
    assert not store.check_and_remember_jti(ISS, "jti-1", NOW + 20)


def test_default_lifetime_and_cap(store: RevocationStore, clock: Clock) -> None:
    store.revoke_session(ISS, "sid-1")  # until NOW + 3600, so the end of that hour
    store.revoke_session(ISS, "sid-2", NOW + 10 * 3600)  # capped at max_token_lifetime
    clock.now = NOW_HOUR_ENDS + 3600 - 1
    assert store.is_revoked(ISS, "sid-1", None, None)
    assert store.is_revoked(ISS, "sid-2", None, None)
    clock.now = NOW_HOUR_ENDS + 3600
    assert not store.is_revoked(ISS, "sid-1", None, None)
    assert not store.is_revoked(ISS, "sid-2", None, None)


def test_expired_entries_are_pruned(local_store: MemoryStore | SQLiteStore, clock: Clock) -> None:
    for number in range(50):
        local_store.revoke_session(ISS, f"sid-{number}", NOW + 10)
        local_store.revoke_subject(ISS, f"user-{number}", NOW, NOW + 10)
        local_store.check_and_remember_jti(ISS, f"jti-{number}", NOW + 10)
    assert stored_entries(local_store) == 150
    clock.now = NOW_HOUR_ENDS + 61  # past the hour, and past the prune interval
    local_store.revoke_session(ISS, "sid-new", clock.now + 3600)
    assert stored_entries(local_store) == 1
    assert local_store.is_revoked(ISS, "sid-new", None, None)


def test_concurrent_jti_checks_let_exactly_one_through(store: RevocationStore) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def check() -> None:
        barrier.wait()
        results.extend(store.check_and_remember_jti(ISS, f"jti-{number}", NOW + 60) for number in range(50))

    threads = [threading.Thread(target=check) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 50


_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from logout_middleware.stores import SQLiteStore

    path, name, other, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = SQLiteStore(path)
    print("ready", flush=True)
    sys.stdin.readline()
    wins = 0
    for number in range(count):
        store.revoke_session("https://op.example", f"{name}-{number}")
        wins += store.check_and_remember_jti("https://op.example", f"shared-{number}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(store.is_revoked("https://op.example", f"{other}-{n}", None, None) for n in range(count)):
            print(json.dumps({"wins": wins}), flush=True)
            break
        time.sleep(0.01)
    store.close()
    """
)


def test_sqlite_shared_by_two_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    count = 100
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), name, other, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        for name, other in (("a", "b"), ("b", "a"))
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n"
        for writer in writers:  # start both at once, so that their writes interleave
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        outputs = [writer.communicate(timeout=30)[0] for writer in writers]
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()
    assert [writer.returncode for writer in writers] == [0, 0]
    wins = [json.loads(output)["wins"] for output in outputs]  # empty output: the other's writes never showed
    assert sum(wins) == count  # each shared jti was new to exactly one process
    store = SQLiteStore(path)
    try:
        assert all(store.is_revoked(ISS, f"{name}-{n}", None, None) for name in "ab" for n in range(count))
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_sqlite_another_instance_sees_sessions_and_subjects_when_it_opens_and_after(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    writer, reader = SQLiteStore(path), SQLiteStore(path, refresh_interval=0)
    try:
        writer.revoke_session(ISS, "sid-before")
        writer.revoke_subject(ISS, "user-before", revoked_at=time.time())
        assert reader.is_revoked(ISS, "sid-before", None, None)  # all it had not seen: every row
        opened = SQLiteStore(path)  # loads what is there: every live row, in the order of their ends
        try:
            assert opened.is_revoked(ISS, "sid-before", None, None)
            assert opened.is_revoked(ISS, None, "user-before", time.time() - 60)
            assert len(opened.revocations) == 2
        finally:
            opened.close()
        writer.revoke_session(ISS, "sid-after")
        writer.revoke_subject(ISS, "user-after", revoked_at=time.time())
        assert reader.is_revoked(ISS, "sid-after", None, None)  # only the rows added since, on its next lookup
        assert reader.is_revoked(ISS, None, "user-after", time.time() - 60)
        assert not reader.is_revoked(ISS, "sid-never", "user-never", time.time())
    finally:
        writer.close()
        reader.close()


def test_sqlite_locked_database_fails_writes_not_reads(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SQLiteStore(path, timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailableError):
            store.revoke_session(ISS, "sid-1")
        assert not store.is_revoked(ISS, "sid-1", None, None)  # WAL: reading never waits for a writer
    finally:
        blocker.close()
        store.close()


def test_sqlite_set_up_waits_for_another_process(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    # A rollback-journal database, whose exclusive lock blocks readers too.
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailableError, match="cannot set up the SQLite database"):
            SQLiteStore(path, timeout=0.1)
        threading.Timer(0.2, blocker.rollback).start()
        store = SQLiteStore(path, timeout=3)
        store.revoke_session(ISS, "sid-1")
        assert store.is_revoked(ISS, "sid-1", None, None)
        store.close()
    finally:
        blocker.close()


def test_sqlite_broken_database_raises_store_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "broken.db", refresh_interval=0)  # every lookup reads what is new
    try:
        store._db.execute("DROP TABLE logout_revocations")
        with pytest.raises(StoreUnavailableError):
            store.is_revoked(ISS, "sid-1", None, None)
    finally:
        store.close()


def test_open_store_memory() -> None:
    store = open_store("memory://", max_token_lifetime=60)
    assert isinstance(store, MemoryStore)
    assert store.max_token_lifetime == 60
    assert isinstance(open_store("memory:"), MemoryStore)
    assert isinstance(open_store("MEMORY://"), MemoryStore)


def test_open_store_sqlite_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///sub%20dir.db")
    try:
        assert isinstance(store, SQLiteStore)
        assert store.max_token_lifetime == DEFAULT_MAX_TOKEN_LIFETIME
        assert (tmp_path / "sub dir.db").exists()
    finally:
        store.close()


def test_open_store_sqlite_absolute(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/abs.db")  # tmp_path starts with '/': four slashes
    try:
        assert isinstance(store, SQLiteStore)
        assert (tmp_path / "abs.db").exists()
    finally:
        store.close()


def test_open_store_passes_a_store_through() -> None:
    store = MemoryStore()
    assert open_store(store) is store


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("", "scheme ''", id="empty"),
        pytest.param("/var/lib/revoked.db", "scheme ''", id="bare-path"),
        pytest.param("postgres://db/revoked", "scheme 'postgres'", id="other-scheme"),
        pytest.param("memory://somewhere", "memory:// URL takes nothing", id="memory-with-host"),
        pytest.param("sqlite://", "sqlite:///relative/path.db", id="sqlite-no-path"),
        pytest.param("sqlite:///", "sqlite:///relative/path.db", id="sqlite-empty-path"),
        pytest.param("sqlite://host/x.db", "sqlite:///relative/path.db", id="sqlite-with-host"),
        pytest.param("sqlite:///x.db?mode=ro", "no query or fragment", id="sqlite-query"),
        pytest.param(
            "sqlite:////nonexistent-dir/x/y.db", "directory '/nonexistent-dir/x' is missing", id="sqlite-bad-dir"
        ),
        pytest.param(42, "got int", id="not-a-store"),
    ],
)
def test_open_store_errors(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match="revocation_store") as info:
        open_store(value)
    assert message in str(info.value)


def test_open_store_redis_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "logout_middleware.stores.redis", None)
    with pytest.raises(ConfigError, match=r"pip install 'logout-middleware\[redis\]'"):
        open_store("redis://127.0.0.1:6379/0")


def test_open_store_never_repeats_a_redis_password() -> None:
    with pytest.raises(ConfigError) as info:
        open_store("redis://:hunter2@127.0.0.1:notaport/0")
    assert "hunter2" not in str(info.value)


# -- where the stores are opened ----------------------------------------------------


def test_the_default_store_is_a_private_sqlite_file_shared_by_the_apps_processes(tmp_path: Path) -> None:
    path = default_store_path("https://op.example", "rp")
    assert path.startswith(tempfile.gettempdir())
    assert path != default_store_path("https://op.example", "another-client")
    first = ProcessLocalStore(store_opener(None, default_path=path))
    second = ProcessLocalStore(store_opener(None, default_path=path))  # another worker of the same app
    first.revoke_session(ISS, "sid-1")
    assert second.is_revoked(ISS, "sid-1", None, None)
    directory = Path(path).parent
    assert (directory.stat().st_mode & 0o777, Path(path).is_file()) == (0o700, True)
    first.close()
    second.close()


def test_a_default_directory_others_can_read_is_refused(tmp_path: Path) -> None:
    path = default_store_path("https://op.example", "rp")
    Path(path).parent.mkdir(mode=0o755)
    Path(path).parent.chmod(0o755)
    store = ProcessLocalStore(store_opener(None, default_path=path))
    with pytest.raises(StoreUnavailableError, match="not a private directory"):
        store.is_revoked(ISS, "sid-1", None, None)


def test_nothing_is_opened_until_first_used(tmp_path: Path) -> None:
    opened: list[str] = []

    def opener() -> RevocationStore:
        opened.append("now")
        return MemoryStore()

    store = ProcessLocalStore(opener)
    assert (opened, store.opened) == ([], None)
    assert store_opener("redis://127.0.0.1:1/0")  # checked, not connected: nothing listens on port 1
    assert store.is_revoked(ISS, "sid", None, None) is False
    assert opened == ["now"] and store.opened is not None
    store.close()
    assert store.opened is None


def test_a_forked_child_opens_a_store_of_its_own(tmp_path: Path) -> None:
    store = ProcessLocalStore(lambda: SQLiteStore(tmp_path / "forked.db"))
    parents = store.current()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        own = store.current()
        os.write(write, b"own" if own is not parents else b"inherited")
        own.revoke_session(ISS, "from-the-child")
        os._exit(0)
    os.close(write)
    assert os.read(read, 16) == b"own"
    os.waitpid(child, 0)
    os.close(read)
    deadline = time.monotonic() + 2
    while not store.is_revoked(ISS, "from-the-child", None, None):  # seen within the refresh interval
        assert time.monotonic() < deadline, "the child wrote to the same database"
        time.sleep(0.02)
    store.close()


@pytest.mark.parametrize(
    "url",
    ["redis://[::1:6379/0", "redis://h:notaport/0", "memory://x", "sqlite:///x.db?mode=ro", "postgres://h/db"],
)
def test_an_unusable_store_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="revocation_store"):
        store_opener(url)
