"""Where back-channel logouts are remembered, so that every request can be checked against them.

A provider's logout token revokes one session (``sid``) or every session of
a user (``sub``) at an issuer.  The store remembers that until the revoked
sessions would have expired anyway, and answers, on every request, whether
the session behind the app's id_token is revoked.  It also remembers the
``jti`` of each logout token, to refuse replays.

Three stores ship: :class:`MemoryStore` (one process), :class:`SQLiteStore`
(the processes of one machine) and :class:`~logout_middleware.redis_store.RedisStore`
(several machines).  :func:`open_store` picks one from a URL.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from .errors import ConfigError, LogoutError

__all__ = [
    "DEFAULT_MAX_TOKEN_LIFETIME",
    "MemoryStore",
    "ProcessLocalStore",
    "RevocationStore",
    "SQLiteStore",
    "StoreDeferredError",
    "StoreUnavailableError",
    "default_store_path",
    "open_store",
    "store_opener",
]

#: How long revocations are kept by default, in seconds: one day.
DEFAULT_MAX_TOKEN_LIFETIME = 24 * 3600
# Expired entries are deleted on the first write after this many seconds.
_PRUNE_INTERVAL = 60.0


class StoreUnavailableError(LogoutError):
    """The revocation store cannot be reached: answer the provider 503 so that it retries."""


class StoreDeferredError(StoreUnavailableError):
    """The shared store cannot be reached: the revocation holds in this process, and is written there later."""


@runtime_checkable
class RevocationStore(Protocol):
    """What the middleware needs from a revocation store.

    Times are seconds since the epoch.  An ``expires_at`` of None means now
    plus the store's ``max_token_lifetime``, and no entry is kept longer
    than that.  Writes raise :class:`StoreUnavailableError` when the store
    cannot be reached.
    """

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        """Revoke the session *sid* at *iss*."""

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        """Revoke every session of *sub* at *iss* issued at or before *revoked_at*."""

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        """Tell whether an id_token with these claims belongs to a revoked session.

        True when *sid* is revoked, or when *sub* was revoked at or after
        *issued_at* (the id_token's ``iat``; None counts as revoked).  Called
        on every request: it must not wait on the network.
        """

    def check_and_remember_jti(self, iss: str, jti: str, expires_at: float | None = None) -> bool:
        """Remember a logout token's ``jti``; False if it was seen before (a replay)."""

    def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""


class MemoryStore:
    """A revocation store in this process's memory; thread-safe.

    Use it for a single process: another worker process, or a restarted one,
    does not see the revocations.  Expired entries are deleted on writes,
    so the store never grows past what ``max_token_lifetime`` allows.

    :param max_token_lifetime: the longest a revocation is kept, in seconds;
        at least as long as an app session (its id_token cookie) can live.
    :param clock: returns the current time in seconds since the epoch.
    """

    def __init__(
        self,
        *,
        max_token_lifetime: float = DEFAULT_MAX_TOKEN_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_token_lifetime = max_token_lifetime
        self._clock = clock
        self._sessions: dict[tuple[str, str], float] = {}  # -> expires_at
        self._subjects: dict[tuple[str, str], tuple[float, float]] = {}  # -> (revoked_at, expires_at)
        self._jtis: dict[tuple[str, str], float] = {}  # -> expires_at
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        now = self._clock()
        expires_at = _bounded(expires_at, now, self.max_token_lifetime)
        with self._lock:
            self._prune(now)
            self._sessions[iss, sid] = max(expires_at, self._sessions.get((iss, sid), 0.0))

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        now = self._clock()
        expires_at = _bounded(expires_at, now, self.max_token_lifetime)
        with self._lock:
            self._prune(now)
            # Keep the latest revocation: one arriving late must not un-revoke newer sessions.
            old_revoked_at, old_expires_at = self._subjects.get((iss, sub), (revoked_at, expires_at))
            self._subjects[iss, sub] = (max(revoked_at, old_revoked_at), max(expires_at, old_expires_at))

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        # No lock: a single dict.get is atomic, and writers never leave a dict half-changed.
        now = self._clock()
        if sid is not None:
            expires_at = self._sessions.get((iss, sid))
            if expires_at is not None and expires_at > now:
                return True
        if sub is not None:
            entry = self._subjects.get((iss, sub))
            if entry is not None and entry[1] > now and (issued_at is None or issued_at <= entry[0]):
                return True
        return False

    def check_and_remember_jti(self, iss: str, jti: str, expires_at: float | None = None) -> bool:
        now = self._clock()
        expires_at = _bounded(expires_at, now, self.max_token_lifetime)
        with self._lock:
            self._prune(now)
            if self._jtis.get((iss, jti), 0.0) > now:
                return False
            self._jtis[iss, jti] = expires_at
            return True

    def close(self) -> None:
        pass

    def live_entries(self) -> list[tuple[str, str, str, float, float]]:
        """Every revocation in force: (``"sid"`` or ``"sub"``, iss, id, revoked at, expires at)."""
        now = self._clock()
        with self._lock:
            sessions = [("sid", iss, sid, now, expires) for (iss, sid), expires in self._sessions.items()]
            subjects = [("sub", iss, sub, at, expires) for (iss, sub), (at, expires) in self._subjects.items()]
        return [entry for entry in sessions + subjects if entry[4] > now]

    def _prune(self, now: float) -> None:
        """Delete expired entries, at most once per prune interval; call with the lock held."""
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_INTERVAL
        for table in (self._sessions, self._jtis):
            for key in [key for key, expires_at in table.items() if expires_at <= now]:
                del table[key]
        for key in [key for key, (_, expires_at) in self._subjects.items() if expires_at <= now]:
            del self._subjects[key]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS logout_sessions (
    iss TEXT NOT NULL, sid TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (iss, sid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logout_sessions_expiry ON logout_sessions (expires_at);
CREATE TABLE IF NOT EXISTS logout_subjects (
    iss TEXT NOT NULL, sub TEXT NOT NULL, revoked_at REAL NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (iss, sub)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logout_subjects_expiry ON logout_subjects (expires_at);
CREATE TABLE IF NOT EXISTS logout_jtis (
    iss TEXT NOT NULL, jti TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (iss, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logout_jtis_expiry ON logout_jtis (expires_at);
"""
_COUNT_TABLES = """
SELECT count(*) FROM sqlite_master
WHERE type = 'table' AND name IN ('logout_sessions', 'logout_subjects', 'logout_jtis')
"""
_REVOKE_SESSION = """
INSERT INTO logout_sessions VALUES (?, ?, ?)
ON CONFLICT (iss, sid) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)
"""
_REVOKE_SUBJECT = """
INSERT INTO logout_subjects VALUES (?, ?, ?, ?)
ON CONFLICT (iss, sub) DO UPDATE SET
    revoked_at = max(revoked_at, excluded.revoked_at), expires_at = max(expires_at, excluded.expires_at)
"""
# Inserts a new jti, or takes over an expired row not yet pruned; changes nothing on a replay.
_REMEMBER_JTI = """
INSERT INTO logout_jtis VALUES (:iss, :jti, :expires_at)
ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE logout_jtis.expires_at <= :now
"""
_IS_REVOKED = """
SELECT EXISTS (SELECT 1 FROM logout_sessions WHERE iss = :iss AND sid = :sid AND expires_at > :now)
    OR EXISTS (
        SELECT 1 FROM logout_subjects WHERE iss = :iss AND sub = :sub AND expires_at > :now
        AND (:issued_at IS NULL OR revoked_at >= :issued_at)
    )
"""


class SQLiteStore:
    """A revocation store in an SQLite database file, shared by the processes of one machine.

    The database runs in WAL mode, so the lookup made on every request never
    waits for a writer; writers wait up to *timeout* for each other.  Every
    statement is its own transaction, so any number of processes may write
    at once.  The tables are named ``logout_*`` and may live in the app's
    own database.  Do not put the file on a network file system: SQLite's
    locking is not reliable there.

    :param path: the database file; created when missing.
    :param max_token_lifetime: the longest a revocation is kept, in seconds;
        at least as long as an app session (its id_token cookie) can live.
    :param timeout: seconds to wait for another process's write before
        raising :class:`StoreUnavailableError`.
    :param clock: returns the current time in seconds since the epoch.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_token_lifetime: float = DEFAULT_MAX_TOKEN_LIFETIME,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_token_lifetime = max_token_lifetime
        self._clock = clock
        self._next_prune = 0.0
        # Two connections shared by all threads, each behind its lock (statements take
        # microseconds): the per-request read never queues behind a write that waits
        # for another process.
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise StoreUnavailableError(f"revocation_store: cannot open the SQLite database: {error}") from None
        try:
            self._set_up(time.monotonic() + timeout)
            self._reader = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            self._db.close()
            raise StoreUnavailableError(f"revocation_store: cannot set up the SQLite database: {error}") from None

    def _set_up(self, deadline: float) -> None:
        """Switch to WAL and create the tables, unless done already; retry while another process does it."""
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._db.execute("PRAGMA journal_mode = WAL")
                if self._db.execute(_COUNT_TABLES).fetchone()[0] != 3:
                    self._db.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as error:
                # Changing the journal mode or the schema can fail at once, without waiting
                # for the busy timeout, while another process does the same.
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        now = self._clock()
        self._write(now, _REVOKE_SESSION, (iss, sid, _bounded(expires_at, now, self.max_token_lifetime)))

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        now = self._clock()
        self._write(now, _REVOKE_SUBJECT, (iss, sub, revoked_at, _bounded(expires_at, now, self.max_token_lifetime)))

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        params = {"iss": iss, "sid": sid, "sub": sub, "issued_at": issued_at, "now": self._clock()}
        try:
            with self._read_lock:
                row = self._reader.execute(_IS_REVOKED, params).fetchone()
        except sqlite3.OperationalError as error:
            raise StoreUnavailableError(f"SQLite revocation store: {error}") from None
        return bool(row[0])

    def check_and_remember_jti(self, iss: str, jti: str, expires_at: float | None = None) -> bool:
        now = self._clock()
        params = {"iss": iss, "jti": jti, "expires_at": _bounded(expires_at, now, self.max_token_lifetime), "now": now}
        return self._write(now, _REMEMBER_JTI, params) == 1

    def close(self) -> None:
        with self._read_lock, self._write_lock:
            self._reader.close()
            self._db.close()

    def _write(self, now: float, statement: str, params: tuple[object, ...] | dict[str, object]) -> int:
        """Run one writing statement (pruning first when due) and return its row count."""
        try:
            with self._write_lock:
                if now >= self._next_prune:
                    self._next_prune = now + _PRUNE_INTERVAL
                    for table in ("logout_sessions", "logout_subjects", "logout_jtis"):
                        self._db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))  # noqa: S608
                return self._db.execute(statement, params).rowcount
        except sqlite3.OperationalError as error:
            raise StoreUnavailableError(f"SQLite revocation store: {error}") from None


def open_store(
    store: str | RevocationStore,
    *,
    max_token_lifetime: float = DEFAULT_MAX_TOKEN_LIFETIME,
    fail_open: bool = True,
) -> RevocationStore:
    """Return the revocation store a ``revocation_store`` option names, opened now.

    Accepted values:

    * ``memory://``: a :class:`MemoryStore`, for a single process;
    * ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (the
      SQLAlchemy convention: the path is what follows the third slash): a
      :class:`SQLiteStore`, for the processes of one machine;
    * ``redis://host:port/db`` or ``rediss://...``, or
      ``redis+sentinel://host:port,host:port/master-name/db`` to find the
      master through Redis Sentinel: a
      :class:`~logout_middleware.redis_store.RedisStore`, for several
      machines (needs the ``redis`` package);
    * an object with the methods of :class:`RevocationStore`, returned as is.

    :param store: the URL or the store object.
    :param max_token_lifetime: passed to the store created.
    :param fail_open: passed to a Redis store; see there.
    :raises ConfigError: the URL has another scheme or cannot be used; the
        message never repeats the URL, which may hold a password.
    """
    return store_opener(store, max_token_lifetime=max_token_lifetime, fail_open=fail_open)()


def store_opener(
    store: str | RevocationStore | None,
    *,
    max_token_lifetime: float = DEFAULT_MAX_TOKEN_LIFETIME,
    fail_open: bool = True,
    default_path: str | None = None,
) -> Callable[[], RevocationStore]:
    """Check a ``revocation_store`` value now, and return what opens it later (see :func:`open_store`).

    Nothing is opened here, so that a pre-fork server's master, or
    ``logout-gateway --check-config``, opens no file and no socket.

    :param store: as for :func:`open_store`; None for the SQLite database at *default_path*
        (see :func:`default_store_path`), made in a private directory of its own.
    :raises ConfigError: the value cannot name a store.
    """
    if store is None:
        if default_path is None:
            raise ConfigError("revocation_store is required")
        return lambda: _open_default_sqlite(default_path, max_token_lifetime)
    if not isinstance(store, str):
        if isinstance(store, RevocationStore):
            return lambda: store
        raise ConfigError(f"revocation_store must be a URL or a revocation store object, got {type(store).__name__}")
    try:
        parts = urlsplit(store)
        scheme = parts.scheme.lower()
    except ValueError:
        raise ConfigError(
            "revocation_store: the URL cannot be parsed (a bracket or port out of place?);"
            " it is memory://, sqlite:///path.db or redis://host:port/db"
        ) from None
    if scheme == "memory":
        if parts.netloc or parts.path or parts.query or parts.fragment:
            raise ConfigError("revocation_store: a memory:// URL takes nothing after the scheme")
        return lambda: MemoryStore(max_token_lifetime=max_token_lifetime)
    if scheme == "sqlite":
        path = _sqlite_path(store)
        if not os.path.isdir(os.path.dirname(path)):
            raise ConfigError(f"revocation_store: the SQLite database's directory {os.path.dirname(path)!r} is missing")
        return lambda: SQLiteStore(path, max_token_lifetime=max_token_lifetime)
    if scheme in ("redis", "rediss", "redis+sentinel", "rediss+sentinel"):
        try:
            from .redis_store import RedisStore  # noqa: PLC0415  (redis is an optional dependency)
        except ImportError:
            raise ConfigError(
                "revocation_store: a redis:// URL needs the redis package (pip install 'logout-middleware[redis]')"
            ) from None
        try:
            RedisStore.check_url(store)
        except ValueError as error:
            raise ConfigError(f"revocation_store: the {scheme}:// URL cannot be used: {error}") from None
        return lambda: RedisStore(store, ttl=max_token_lifetime, fail_open=fail_open)
    raise ConfigError(
        "revocation_store must be memory://, sqlite:///path.db, redis://host:port/db or rediss://..."
        f", got a URL with the scheme {scheme!r}"
    )


def default_store_path(issuer: str | None, client_id: str | None) -> str:
    """The SQLite database used when no ``revocation_store`` is named: shared by this machine's processes.

    In a directory of this user's own below the temporary directory, named
    after the issuer and client, so that every worker of one app shares it
    and a restarted worker finds the revocations made before.
    """
    digest = hashlib.sha256(f"{issuer}|{client_id}".encode()).hexdigest()[:16]
    directory = os.path.join(tempfile.gettempdir(), f"logout-middleware-{os.getuid()}")
    return os.path.join(directory, f"revocations-{digest}.db")


def _open_default_sqlite(path: str, max_token_lifetime: float) -> SQLiteStore:
    _own_private_directory(os.path.dirname(path))
    return SQLiteStore(path, max_token_lifetime=max_token_lifetime)


def _own_private_directory(directory: str) -> None:
    """Make the default store's directory, readable by this user only, or refuse one that is someone else's."""
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise StoreUnavailableError(f"cannot make the directory of the revocation store: {error}") from None
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        # Another user could read or replace the revocations there.
        raise StoreUnavailableError(
            f"{directory} is not a private directory of this user; set revocation_store to a path of your own"
        )


class ProcessLocalStore:
    """A revocation store opened in the process that first uses it, and again in a forked child.

    Pre-fork servers (gunicorn ``--preload``, uWSGI without ``lazy-apps``)
    build the app in a master process and fork the workers: a store opened
    there would hand every worker the master's SQLite connection and no
    Redis listener thread.  Opened at first use and forgotten in a fork's
    child, each process has its own.  It is closed at exit, or by
    :meth:`close` (the ASGI adapter calls it at lifespan shutdown).

    A store that loads a copy of a shared one (Redis) is waited for, up to
    *sync_wait* seconds, so that a worker's first requests are not checked
    against an empty copy.

    :param opener: returns the store, opened (see :func:`store_opener`).
    :param sync_wait: seconds to wait for a newly opened store's copy to load.
    """

    def __init__(self, opener: Callable[[], RevocationStore], *, sync_wait: float = 2.0) -> None:
        self._opener = opener
        self._sync_wait = sync_wait
        self._store: RevocationStore | None = None
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    @property
    def opened(self) -> RevocationStore | None:
        """The store, if this process has opened it."""
        return self._store

    def current(self) -> RevocationStore:
        """The store of this process, opened now if need be."""
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                opened = self._opener()
                wait_until_synced = getattr(opened, "wait_until_synced", None)
                if wait_until_synced is not None:
                    wait_until_synced(self._sync_wait)
                self._store = opened
                atexit.register(self.close)
            return self._store

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        self.current().revoke_session(iss, sid, expires_at)

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        self.current().revoke_subject(iss, sub, revoked_at, expires_at)

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        store = self._store or self.current()
        return store.is_revoked(iss, sid, sub, issued_at)

    def check_and_remember_jti(self, iss: str, jti: str, expires_at: float | None = None) -> bool:
        return self.current().check_and_remember_jti(iss, jti, expires_at)

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    def _forget(self) -> None:
        # In a forked child: the parent's store (its sockets, threads, SQLite handles) is not ours to use or close.
        self._store = None
        self._lock = threading.Lock()


def _sqlite_path(url: str) -> str:
    """Return the absolute file path of an ``sqlite:///`` URL, or raise ConfigError."""
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(
            "revocation_store: an SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    path = url[len(prefix) :]
    if "?" in path or "#" in path:
        raise ConfigError("revocation_store: an sqlite:/// URL takes no query or fragment")
    # Resolved now, so that a later change of working directory does not move the database.
    return os.path.abspath(unquote(path))


def _bounded(expires_at: float | None, now: float, max_token_lifetime: float) -> float:
    """Return *expires_at*, defaulting to and capped at now plus the longest lifetime."""
    latest = now + max_token_lifetime
    return latest if expires_at is None else min(expires_at, latest)
