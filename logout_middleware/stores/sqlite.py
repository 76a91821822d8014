"""The revocation store in an SQLite database: shared by the processes of one machine."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable

from ..errors import StoreUnavailableError
from .base import DEFAULT_MAX_TOKEN_LIFETIME, bounded

__all__ = ["SQLiteStore"]

# Expired entries are deleted on the first write after this many seconds.
_PRUNE_INTERVAL = 60.0

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
        self._write(now, _REVOKE_SESSION, (iss, sid, bounded(expires_at, now, self.max_token_lifetime)))

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        now = self._clock()
        self._write(now, _REVOKE_SUBJECT, (iss, sub, revoked_at, bounded(expires_at, now, self.max_token_lifetime)))

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
        params = {"iss": iss, "jti": jti, "expires_at": bounded(expires_at, now, self.max_token_lifetime), "now": now}
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
