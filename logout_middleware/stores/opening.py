"""Opening the store a ``revocation_store`` option names: checked at start-up, opened by the process that uses it."""

from __future__ import annotations

import atexit
import hashlib
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError, StoreUnavailableError
from .base import DEFAULT_MAX_TOKEN_LIFETIME, RevocationStore, StoreStatus
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["ProcessLocalStore", "default_store_path", "open_store", "store_opener"]


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
      :class:`~logout_middleware.stores.redis.RedisStore`, for several
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
    if scheme in ("redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"):
        try:
            from .redis import RedisStore  # noqa: PLC0415  (redis is an optional dependency)
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
        #: The store, if this process has opened it (an attribute, not a property: read on every checked request).
        self.opened: RevocationStore | None = None
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def current(self) -> RevocationStore:
        """The store of this process, opened now if need be."""
        store = self.opened
        if store is not None:
            return store
        with self._lock:
            if self.opened is None:
                opened = self._opener()
                wait_until_synced = getattr(opened, "wait_until_synced", None)
                if wait_until_synced is not None:
                    wait_until_synced(self._sync_wait)
                self.opened = opened
                atexit.register(self.close)
            return self.opened

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        self.current().revoke_session(iss, sid, expires_at)

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        self.current().revoke_subject(iss, sub, revoked_at, expires_at)

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        store = self.opened or self.current()
        return store.is_revoked(iss, sid, sub, issued_at)

    def check_and_remember_jti(self, iss: str, jti: str, expires_at: float | None = None) -> bool:
        return self.current().check_and_remember_jti(iss, jti, expires_at)

    def status(self) -> StoreStatus | None:
        """The status of this process's store: None before it is opened, or for a store that tells none."""
        status = getattr(self.opened, "status", None)
        return status() if status is not None else None

    def close(self) -> None:
        with self._lock:
            store, self.opened = self.opened, None
        if store is not None:
            store.close()

    def _forget(self) -> None:
        # In a forked child: the parent's store (its sockets, threads, SQLite handles) is not ours to use or close.
        self.opened = None
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
