"""The revocations, kept compact: 128-bit digests of ``iss|sid`` and ``iss|sub``, and the hour they end in.

Every store keeps its revocations (or a local copy of them) in a
:class:`RevocationSet`, which holds only what the per-request check needs:
the SHA-256 digest of the session or subject, truncated to 16 bytes, and
when the revocation may be forgotten.  A false "revoked" for a live session
would take two different sessions with the same 128-bit digest: about one
chance in 10^26 per check with a million revocations.

A revocation is kept until the end of the hour its token expires in, not
to the second: a revoked session stays refused for up to an hour more than
it needs to (it has expired by then anyway), and in exchange every
revocation of an hour points at one shared number, whole hours are loaded
at once (``dict.fromkeys``, at C speed), and the stores group revocations
by that hour (one Redis set per hour, see :mod:`.redis`).  A million
session revocations take about 90 MB: a 16-byte ``bytes`` key (49 bytes)
and its dict entry.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections.abc import Iterable

__all__ = ["DIGEST_SIZE", "HOUR", "RevocationSet", "expiry_hour", "session_digest", "subject_digest"]

#: Revocations are grouped by the hour they end in, in seconds since the epoch.
HOUR = 3600
#: Bytes in a digest.
DIGEST_SIZE = 16


@functools.lru_cache(maxsize=65_536)
def session_digest(iss: str, sid: str) -> bytes:
    """The 16-byte digest a session revocation is kept under."""
    return _digest(b"sid", iss, sid)


@functools.lru_cache(maxsize=65_536)
def subject_digest(iss: str, sub: str) -> bytes:
    """The 16-byte digest a subject revocation (every session of a user) is kept under."""
    return _digest(b"sub", iss, sub)


def _digest(kind: bytes, iss: str, value: str) -> bytes:
    # NUL separates the parts: it appears in no issuer URL, so no two (iss, value) pairs share an input.
    data = b"\0".join((kind, iss.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape")))
    return hashlib.sha256(data).digest()[:DIGEST_SIZE]


def expiry_hour(expires_at: float) -> int:
    """The end of the hour *expires_at* falls in, in whole seconds: when the revocation is forgotten."""
    return math.ceil(expires_at / HOUR) * HOUR


class RevocationSet:
    """Revoked sessions and subjects by digest; safe for any number of readers beside one writer at a time.

    Lookups take no lock (a dict lookup is atomic); writers take the set's lock.
    """

    def __init__(self) -> None:
        #: session digest -> the hour its revocation ends (a shared int per hour).
        self.sessions: dict[bytes, int] = {}
        #: subject digest -> (revoked at, the hour its revocation ends).
        self.subjects: dict[bytes, tuple[float, int]] = {}
        #: hour -> how many sessions, and subjects, a store that keeps a key an hour holds in that hour's key, as far as
        #: this copy knows: what an audit compares with the store's.  A revocation taken with two ends is in both
        #: hours' keys (the later end is the one in force), so it counts in both, as it does in the store.
        self.session_counts: dict[int, int] = {}
        self.subject_counts: dict[int, int] = {}
        #: hour -> the revocations counted in that hour whose end in force is another hour.
        self._other_sessions: dict[int, set[bytes]] = {}
        self._other_subjects: dict[int, dict[bytes, float]] = {}
        self.lock = threading.Lock()
        #: Grows with every revocation added: while it stays, a session found live stays live (time only ends
        #: revocations), so a caller may skip looking it up again.
        self.generation = 0
        self._hours: dict[int, int] = {}  # one int object per hour, pointed at by all its revocations

    def __len__(self) -> int:
        return len(self.sessions) + len(self.subjects)

    def is_revoked(self, session: bytes | None, subject: bytes | None, issued_at: float | None, now: float) -> bool:
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

    def revokes(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None, now: float) -> bool:
        """:meth:`is_revoked` for a session's claims, as a store's ``is_revoked`` is asked."""
        return self.is_revoked(
            session_digest(iss, sid) if sid is not None else None,
            subject_digest(iss, sub) if sub is not None else None,
            issued_at,
            now,
        )

    def add_session(self, digest: bytes, expires_at: float) -> None:
        """Revoke a session until the end of the hour of *expires_at* (a later end already held stays)."""
        self.add_sessions((digest,), expiry_hour(expires_at))

    def add_sessions(self, digests: Iterable[bytes], hour: int) -> None:
        """Revoke many sessions until *hour* (an :func:`expiry_hour`), in bulk."""
        with self.lock:
            hour = self._hours.setdefault(hour, hour)
            new = dict.fromkeys(digests, hour)
            held, counts = self.sessions, self.session_counts
            for digest in new.keys() & held.keys():  # a set operation: a Python loop only over those held already
                old = held[digest]
                if old == hour:
                    del new[digest]
                elif old > hour:  # a later end is in force: this hour's key holds it too
                    del new[digest]
                    others = self._other_sessions.setdefault(hour, set())
                    if digest not in others:
                        others.add(digest)
                        counts[hour] = counts.get(hour, 0) + 1
                else:  # the later end is in force now; the earlier hour's key still holds it, and it stays counted
                    self._other_sessions.setdefault(old, set()).add(digest)
            held.update(new)
            if new:
                counts[hour] = counts.get(hour, 0) + len(new)
                self.generation += 1

    def add_subject(self, digest: bytes, revoked_at: float, expires_at: float) -> None:
        """Revoke every session of a subject issued until *revoked_at*; the later revocation wins."""
        hour = expiry_hour(expires_at)
        with self.lock:
            hour = self._hours.setdefault(hour, hour)
            old = self.subjects.get(digest)
            counts = self.subject_counts
            if old is None:
                counts[hour] = counts.get(hour, 0) + 1
            elif hour < old[1]:  # a later end is in force: this hour's key holds it too
                others = self._other_subjects.setdefault(hour, {})
                if digest not in others:
                    counts[hour] = counts.get(hour, 0) + 1
                others[digest] = max(revoked_at, others.get(digest, revoked_at))
            elif hour > old[1]:  # the earlier hour's key still holds it, and it stays counted there
                self._other_subjects.setdefault(old[1], {})[digest] = old[0]
                counts[hour] = counts.get(hour, 0) + 1
            if old is None or revoked_at > old[0] or hour > old[1]:
                old_at, old_hour = old or (revoked_at, hour)
                self.subjects[digest] = (max(revoked_at, old_at), max(hour, old_hour))
                self.generation += 1

    def ending(self, hour: int) -> tuple[list[bytes], list[tuple[bytes, float]]]:
        """The sessions, and the subjects with their revocation times, whose revocations end at *hour*."""
        sessions = [digest for digest, ends in list(self.sessions.items()) if ends == hour]
        subjects = [(digest, entry[0]) for digest, entry in list(self.subjects.items()) if entry[1] == hour]
        with self.lock:  # also those a later end is in force for: the hour's key holds them too
            sessions += self._other_sessions.get(hour, ())
            subjects += self._other_subjects.get(hour, {}).items()
        return sessions, subjects

    def prune(self, now: float) -> None:
        """Forget the revocations that have ended: a walk through them all, but only once an hour has passed."""
        # min() reads the keys in one go: a request thread may add an hour meanwhile, never during.
        if min(self._hours, default=now + 1) > now:
            return
        with self.lock:
            for digest in [digest for digest, ends in self.sessions.items() if ends <= now]:
                del self.sessions[digest]
            for digest in [digest for digest, (_, ends) in self.subjects.items() if ends <= now]:
                del self.subjects[digest]
            for counts in (self.session_counts, self.subject_counts, self._other_sessions, self._other_subjects,
                           self._hours):  # fmt: skip
                for hour in [hour for hour in counts if hour <= now]:
                    del counts[hour]
