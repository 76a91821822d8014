"""The revocation store in this process's memory: for one process, and the local copy of the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .base import DEFAULT_MAX_TOKEN_LIFETIME, StoreStatus, bounded
from .revocations import RevocationSet, session_digest, subject_digest

__all__ = ["MemoryStore"]

# Expired entries are deleted on the first write after this many seconds.
_PRUNE_INTERVAL = 60.0


class MemoryStore:
    """A revocation store in this process's memory; thread-safe.

    Use it for a single process: another worker process, or a restarted one,
    does not see the revocations.  Expired entries are deleted on writes,
    so the store never grows past what ``max_token_lifetime`` allows; a
    revocation takes about 90 bytes (see :mod:`.revocations`).

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
        #: The revocations, by digest.
        self.revocations = RevocationSet()
        self._jtis: dict[tuple[str, str], float] = {}  # -> expires_at
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        now = self._clock()
        self._prune(now)
        self.revocations.add_session(session_digest(iss, sid), bounded(expires_at, now, self.max_token_lifetime))

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        now = self._clock()
        self._prune(now)
        # Merged: a revocation arriving late must not un-revoke newer sessions.
        expires_at = bounded(expires_at, now, self.max_token_lifetime)
        self.revocations.add_subject(subject_digest(iss, sub), revoked_at, expires_at)

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        return self.revocations.revokes(iss, sid, sub, issued_at, self._clock())

    @property
    def generation(self) -> int:
        """Grows with every revocation added (see :func:`~logout_middleware.stores.base.generation_of`)."""
        return self.revocations.generation

    def check_and_remember_jti(self, iss: str, jti: str, expires_at: float | None = None) -> bool:
        now = self._clock()
        expires_at = bounded(expires_at, now, self.max_token_lifetime)
        self._prune(now)
        with self._lock:
            if self._jtis.get((iss, jti), 0.0) > now:
                return False
            self._jtis[iss, jti] = expires_at
            return True

    def close(self) -> None:
        pass

    def status(self) -> StoreStatus:
        """Never behind: there is no other copy to be behind."""
        return StoreStatus("memory", 0.0, len(self.revocations))

    def _prune(self, now: float) -> None:
        """Delete expired entries, at most once per prune interval."""
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_INTERVAL
        self.revocations.prune(now)
        with self._lock:
            for key in [key for key, expires_at in self._jtis.items() if expires_at <= now]:
                del self._jtis[key]
