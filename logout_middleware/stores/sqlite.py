"""The revocation store in an SQLite database: shared by the processes of one machine."""

from __future__ import annotations

import itertools
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable

from ..errors import StoreUnavailableError
from .base import DEFAULT_MAX_TOKEN_LIFETIME, StoreStatus, bounded
from .revocations import RevocationSet, session_digest, subject_digest

__all__ = ["SQLiteStore"]

# Expired entries are deleted on the first write after this many seconds.
_PRUNE_INTERVAL = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logout_revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL, digest BLOB NOT NULL,
    revoked_at REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS logout_revocations_expiry ON logout_revocations (expires_at);
CREATE TABLE IF NOT EXISTS logout_jtis (
    iss TEXT NOT NULL, jti TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (iss, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logout_jtis_expiry ON logout_jtis (expires_at);
"""
_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'logout_%'"
_REVOKE = "INSERT INTO logout_revocations (kind, digest, revoked_at, expires_at) VALUES (?, ?, ?, ?)"
_LAST = "SELECT max(seq) FROM logout_revocations"
_SINCE = """
SELECT kind, digest, revoked_at, expires_at FROM logout_revocations WHERE seq > ? AND seq <= ? AND expires_at > ?
"""
# With the hour each ends in (revocations.expiry_hour, in SQL that has no ceil everywhere), in order of their ends.
_SESSIONS_BY_END = """
SELECT (CAST(expires_at / 3600 AS INTEGER) + (expires_at / 3600 > CAST(expires_at / 3600 AS INTEGER))) * 3600, digest
FROM logout_revocations WHERE expires_at > ? AND kind = 0 ORDER BY expires_at
"""
_SUBJECTS_SINCE = """
SELECT digest, revoked_at, expires_at FROM logout_revocations
WHERE seq > ? AND seq <= ? AND expires_at > ? AND kind = 1
"""
# Inserts a new jti, or takes over an expired row not yet pruned; changes nothing on a replay.
_REMEMBER_JTI = """
INSERT INTO logout_jtis VALUES (:iss, :jti, :expires_at)
ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE logout_jtis.expires_at <= :now
"""
_SESSION, _SUBJECT = 0, 1


class SQLiteStore:
    """A revocation store in an SQLite database file, shared by the processes of one machine.

    Each revocation is a row of ``logout_revocations`` (its kind, the
    16-byte digest of :mod:`.revocations`, its times), appended in order.
    Each process keeps a copy of them in memory for the per-request check,
    loaded when the store opens and brought up to date with the rows added
    since, at most every *refresh_interval* seconds (a local, indexed read
    that never waits for a writer: the database runs in WAL mode).  So a
    revocation made in one worker holds in the others within that interval,
    and in this one at once.  Writers wait up to *timeout* for each other.
    The tables are named ``logout_*`` and may live in the app's own
    database.  Do not put the file on a network file system: SQLite's
    locking is not reliable there.

    A database written by version 0.1 (tables ``logout_sessions`` and
    ``logout_subjects``) is converted when it is first opened.

    :param path: the database file; created when missing.
    :param max_token_lifetime: the longest a revocation is kept, in seconds;
        at least as long as an app session (its id_token cookie) can live.
    :param timeout: seconds to wait for another process's write before
        raising :class:`StoreUnavailableError`.
    :param refresh_interval: the longest a revocation made by another process goes unseen here, in seconds.
    :param clock: returns the current time in seconds since the epoch.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_token_lifetime: float = DEFAULT_MAX_TOKEN_LIFETIME,
        timeout: float = 5.0,
        refresh_interval: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_token_lifetime = max_token_lifetime
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._next_prune = 0.0
        #: This process's copy of the revocations.
        self.revocations = RevocationSet()
        self._seen_seq = 0
        self._next_refresh = 0.0
        self._unreadable_since: float | None = None  # monotonic: since the database could not be read
        # Two connections shared by all threads, each behind its lock: the refresh of the
        # copy never queues behind a write that waits for another process.
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise StoreUnavailableError(f"revocation_store: cannot open the SQLite database: {error}") from None
        try:
            self._set_up(time.monotonic() + timeout)
            self._reader = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._refresh()
        except sqlite3.Error as error:
            self._db.close()
            raise StoreUnavailableError(f"revocation_store: cannot set up the SQLite database: {error}") from None

    def _set_up(self, deadline: float) -> None:
        """Switch to WAL, create the tables and convert old ones, unless done; retry while another process does."""
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._db.execute("PRAGMA journal_mode = WAL")
                tables = {row[0] for row in self._db.execute(_TABLES)}
                if not {"logout_revocations", "logout_jtis"} <= tables:
                    self._db.executescript(_SCHEMA)
                if tables & {"logout_sessions", "logout_subjects"}:
                    self._convert_version_1()
                return
            except sqlite3.OperationalError as error:
                # Changing the journal mode or the schema can fail at once, without waiting
                # for the busy timeout, while another process does the same.
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _convert_version_1(self) -> None:
        """Move the revocations of version 0.1's tables (iss and sid in clear) into digests, in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            tables = {row[0] for row in db.execute(_TABLES)}
            rows: list[tuple[int, bytes, float, float]] = []
            if "logout_sessions" in tables:
                for iss, sid, expires_at in db.execute("SELECT iss, sid, expires_at FROM logout_sessions"):
                    rows.append((_SESSION, session_digest(iss, sid), 0.0, expires_at))
                db.execute("DROP TABLE logout_sessions")
            if "logout_subjects" in tables:
                for iss, sub, revoked_at, expires_at in db.execute(
                    "SELECT iss, sub, revoked_at, expires_at FROM logout_subjects"
                ):
                    rows.append((_SUBJECT, subject_digest(iss, sub), revoked_at, expires_at))
                db.execute("DROP TABLE logout_subjects")
            db.executemany(_REVOKE, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        now = self._clock()
        expires_at = bounded(expires_at, now, self.max_token_lifetime)
        digest = session_digest(iss, sid)
        self._write(now, _REVOKE, (_SESSION, digest, 0.0, expires_at))
        self.revocations.add_session(digest, expires_at)

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        now = self._clock()
        expires_at = bounded(expires_at, now, self.max_token_lifetime)
        digest = subject_digest(iss, sub)
        self._write(now, _REVOKE, (_SUBJECT, digest, revoked_at, expires_at))
        self.revocations.add_subject(digest, revoked_at, expires_at)

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        if time.monotonic() >= self._next_refresh:
            self._refresh()
        return self.revocations.revokes(iss, sid, sub, issued_at, self._clock())

    @property
    def generation(self) -> int:
        """Grows with every revocation added here or, once read, by another process."""
        if time.monotonic() >= self._next_refresh:
            self._refresh()
        return self.revocations.generation

    def check_and_remember_jti(self, iss: str, jti: str, expires_at: float | None = None) -> bool:
        now = self._clock()
        params = {"iss": iss, "jti": jti, "expires_at": bounded(expires_at, now, self.max_token_lifetime), "now": now}
        return self._write(now, _REMEMBER_JTI, params) == 1

    def status(self) -> StoreStatus:
        """In step (0) while the database reads: every lookup first takes the rows written since the last one.

        Once a read fails, the seconds since then, until one succeeds.
        """
        since = self._unreadable_since
        return StoreStatus("sqlite", 0.0 if since is None else time.monotonic() - since, len(self.revocations))

    def close(self) -> None:
        with self._read_lock, self._write_lock:
            self._reader.close()
            self._db.close()

    def _refresh(self) -> None:
        """Take the rows written since the last look into the copy; one thread at a time, the others go on."""
        if not self._read_lock.acquire(blocking=False):
            return
        try:
            self._next_refresh = time.monotonic() + self._refresh_interval
            now = self._clock()
            try:
                self._seen_seq = self._read_since(self._seen_seq, now)
            except sqlite3.Error as error:
                # A local database that cannot be read is broken, not slow: say so rather than answer stale.
                self._next_refresh = 0.0
                if self._unreadable_since is None:
                    self._unreadable_since = time.monotonic()
                raise StoreUnavailableError(f"SQLite revocation store: {error}") from None
            self._unreadable_since = None
            if now >= self._next_prune:
                self.revocations.prune(now)
        finally:
            self._read_lock.release()

    def _read_since(self, seen: int, now: float) -> int:
        """Take the live rows after row *seen* into the copy, in one snapshot; return the last row's number."""
        reader = self._reader
        reader.execute("BEGIN")
        try:
            last = reader.execute(_LAST).fetchone()[0] or 0
            if seen == 0:
                # All of them, in the order of their ends (the index has it): each hour's sessions go in at once.
                rows = reader.execute(_SESSIONS_BY_END, (now,))
                for hour, group in itertools.groupby(rows, key=operator.itemgetter(0)):
                    self.revocations.add_sessions(map(operator.itemgetter(1), group), hour)
                subjects = reader.execute(_SUBJECTS_SINCE, (0, last, now)).fetchall()
            else:
                rows = reader.execute(_SINCE, (seen, last, now))
                subjects = []
                for kind, digest, revoked_at, expires_at in rows:
                    if kind == _SESSION:
                        self.revocations.add_session(digest, expires_at)
                    else:
                        subjects.append((digest, revoked_at, expires_at))
            for digest, revoked_at, expires_at in subjects:
                self.revocations.add_subject(digest, revoked_at, expires_at)
        finally:
            reader.execute("COMMIT")
        return int(last)

    def _write(self, now: float, statement: str, params: tuple[object, ...] | dict[str, object]) -> int:
        """Run one writing statement (pruning first when due) and return its row count."""
        try:
            with self._write_lock:
                if now >= self._next_prune:
                    self._next_prune = now + _PRUNE_INTERVAL
                    for table in ("logout_revocations", "logout_jtis"):
                        self._db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))  # noqa: S608
                return self._db.execute(statement, params).rowcount
        except sqlite3.OperationalError as error:
            raise StoreUnavailableError(f"SQLite revocation store: {error}") from None
