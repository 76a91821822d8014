"""The revocation store in this process's memory: for one process, and as the local copy of the Redis store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .base import DEFAULT_MAX_TOKEN_LIFETIME, bounded

__all__ = ["MemoryStore"]

# Expired entries are deleted on the first write after this many seconds.
_PRUNE_INTERVAL = 60.0


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
        expires_at = bounded(expires_at, now, self.max_token_lifetime)
        with self._lock:
            self._prune(now)
            self._sessions[iss, sid] = max(expires_at, self._sessions.get((iss, sid), 0.0))

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        now = self._clock()
        expires_at = bounded(expires_at, now, self.max_token_lifetime)
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
        expires_at = bounded(expires_at, now, self.max_token_lifetime)
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
