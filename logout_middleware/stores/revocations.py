"""The revocations, kept compact: 128-bit digests of ``iss|sid`` and ``iss|sub``, and their times.

Every store keeps its revocations (or a local copy of them) in a
:class:`RevocationSet`, which holds only what the per-request check needs:
the SHA-256 digest of the session or subject, truncated to 128 bits, and
when the revocation ends.  A false "revoked" for a live session would take
two different sessions with the same 128-bit digest: about one chance in
10^21 for a million revocations, not a concern.

A session's revocation ends at the whole second after its expiry (a
revoked session may stay refused for less than a second more, never a live
one): so the times of a million revocations, which come a dozen to a
second, are shared objects, about 30 MB less than a float each.  Where they
are stored, revocations are grouped by the hour they end in (the Redis hash
of that hour, see :mod:`.redis`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections.abc import Iterator

__all__ = ["HOUR", "RevocationSet", "expiry_hour", "session_digest", "subject_digest"]

#: Revocations are grouped by the hour they end in, in seconds since the epoch.
HOUR = 3600


@functools.lru_cache(maxsize=65_536)
def session_digest(iss: str, sid: str) -> int:
    """The 128-bit digest a session revocation is kept under."""
    return _digest(b"sid", iss, sid)


@functools.lru_cache(maxsize=65_536)
def subject_digest(iss: str, sub: str) -> int:
    """The 128-bit digest a subject revocation (every session of a user) is kept under."""
    return _digest(b"sub", iss, sub)


def _digest(kind: bytes, iss: str, value: str) -> int:
    # NUL separates the parts: it appears in no issuer URL, so no two (iss, value) pairs share an input.
    data = b"\0".join((kind, iss.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape")))
    return int.from_bytes(hashlib.sha256(data).digest()[:16], "big")


def expiry_hour(expires_at: float) -> int:
    """The end of the hour *expires_at* falls in, in whole seconds: when the revocation is dropped."""
    return math.ceil(expires_at / HOUR) * HOUR


class RevocationSet:
    """Revoked sessions and subjects by digest; safe for any number of readers beside one writer at a time.

    Lookups take no lock (a dict lookup is atomic); writers take the set's lock.
    """

    def __init__(self) -> None:
        #: session digest -> when its revocation ends, in whole seconds.
        self.sessions: dict[int, int] = {}
        #: subject digest -> (revoked at, expires at).
        self.subjects: dict[int, tuple[float, float]] = {}
        self.lock = threading.Lock()
        # One int object per distinct second: a million entries hold pointers to some 86,400 of them.
        self._seconds: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.sessions) + len(self.subjects)

    def is_revoked(self, session: int | None, subject: int | None, issued_at: float | None, now: float) -> bool:
        """Whether the session, or the subject at *issued_at* (None counts as revoked), is revoked at *now*."""
        if session is not None:
            ends = self.sessions.get(session)
            if ends is not None and ends > now:
                return True
        if subject is not None:
            entry = self.subjects.get(subject)
            if entry is not None and entry[1] > now and (issued_at is None or issued_at <= entry[0]):
                return True
        return False

    def add_session(self, digest: int, expires_at: float) -> None:
        """Revoke a session until *expires_at* (a later end already held stays)."""
        ends = math.ceil(expires_at)
        with self.lock:
            ends = self._seconds.setdefault(ends, ends)
            if self.sessions.get(digest, 0) < ends:
                self.sessions[digest] = ends

    def add_subject(self, digest: int, revoked_at: float, expires_at: float) -> None:
        """Revoke every session of a subject issued until *revoked_at*; the later revocation wins."""
        with self.lock:
            old = self.subjects.get(digest)
            if old is None:
                self.subjects[digest] = (revoked_at, expires_at)
            elif revoked_at > old[0] or expires_at > old[1]:
                self.subjects[digest] = (max(revoked_at, old[0]), max(expires_at, old[1]))

    def add_many(self, sessions: dict[int, int], subjects: dict[int, tuple[float, float]]) -> None:
        """Merge revocations loaded in bulk (session digest -> end in whole seconds; subject digest -> times)."""
        seconds = self._seconds
        with self.lock:
            held = self.sessions
            for digest, ends in sessions.items():
                if held.get(digest, 0) < ends:
                    held[digest] = seconds.setdefault(ends, ends)
        for digest, (revoked_at, expires_at) in subjects.items():
            self.add_subject(digest, revoked_at, expires_at)

    def prune(self, now: float) -> None:
        """Drop what has expired."""
        with self.lock:
            for digest in [digest for digest, ends in self.sessions.items() if ends <= now]:
                del self.sessions[digest]
            for digest in [digest for digest, (_, ends) in self.subjects.items() if ends <= now]:
                del self.subjects[digest]
            for second in [second for second in self._seconds if second <= now]:
                del self._seconds[second]

    def live(self, now: float) -> Iterator[tuple[str, int, float, float]]:
        """Every revocation in force: (``"sid"`` or ``"sub"``, digest, revoked at, expires at)."""
        sessions = [(digest, ends) for digest, ends in list(self.sessions.items()) if ends > now]
        subjects = [(digest, entry) for digest, entry in list(self.subjects.items()) if entry[1] > now]
        for digest, ends in sessions:
            yield "sid", digest, 0.0, float(ends)
        for digest, (revoked_at, expires_at) in subjects:
            yield "sub", digest, revoked_at, expires_at
