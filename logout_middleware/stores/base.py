"""What every revocation store offers, and how the drivers ask one: a lookup and a write, as values.

A provider's logout token revokes one session (``sid``) or every session of
a user (``sub``) at an issuer.  A store remembers that until the revoked
sessions would have expired anyway, and answers, on every request, whether
the session behind the app's id_token is revoked.  It also remembers the
``jti`` of each logout token, to refuse replays.

The core never calls a store: it asks for writes as values
(:class:`~logout_middleware.core.values.RevokeSession` and the like), and the
driver, which owns the store, performs them with :func:`perform` and hands
back a :class:`~logout_middleware.core.values.StoreOutcome`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..core.values import Lookup, RememberJti, RevokeSession, RevokeSubject, SessionRef, StoreOutcome, StoreWrite
from ..errors import StoreDeferredError, StoreUnavailableError

__all__ = ["DEFAULT_MAX_TOKEN_LIFETIME", "RevocationStore", "StoreStatus", "bounded", "look_up", "perform"]

#: How long revocations are kept by default, in seconds: one day.
DEFAULT_MAX_TOKEN_LIFETIME = 24 * 3600


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


def generation_of(store: object) -> int | None:
    """The store's ``generation``, if it has one: a number that grows whenever a revocation is added.

    While it stays the same, a session the store found live is still live,
    and the drivers do not ask again.  A store without one (the protocol
    does not require it), or one whose answers may change otherwise (a Redis
    store that fails closed, while Redis is away), gives None.
    """
    generation = getattr(store, "generation", None)
    return generation if isinstance(generation, int) else None


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """How a store stands, read when metrics are scraped (the built-in stores have a ``status()`` method).

    A store of the app's own may offer ``status()`` too; it is not part of :class:`RevocationStore`.
    """

    #: ``memory``, ``sqlite`` or ``redis``.
    kind: str
    #: How far this process's copy may be behind the shared store, in seconds: 0 while in step.
    lag: float
    #: The revocations this process holds (its copy).
    revocations: int
    #: Revocations held here until the shared store takes them.
    pending: int = 0


def perform(store: RevocationStore, write: StoreWrite) -> StoreOutcome:
    """Carry out one write the core asked for, and say how it went; never raises for an unreachable store."""
    try:
        if isinstance(write, RevokeSession):
            store.revoke_session(write.iss, write.sid, write.expires_at)
        elif isinstance(write, RevokeSubject):
            store.revoke_subject(write.iss, write.sub, write.revoked_at, write.expires_at)
        elif isinstance(write, RememberJti):
            return StoreOutcome("written", fresh=store.check_and_remember_jti(write.iss, write.jti, write.expires_at))
    except StoreDeferredError as error:
        return StoreOutcome("deferred", error=str(error))
    except StoreUnavailableError as error:
        return StoreOutcome("unavailable", error=str(error))
    return StoreOutcome("written")


# The two answers of every lookup that succeeds: made once, as lookups run on every checked request.
_REVOKED, _NOT_REVOKED = Lookup(revoked=True), Lookup(revoked=False)


def look_up(store: RevocationStore, refs: Iterable[SessionRef]) -> Lookup:
    """Whether any of the sessions *refs* names is revoked; never raises for an unreachable store."""
    try:
        for ref in refs:
            if store.is_revoked(*ref):
                return _REVOKED
    except StoreUnavailableError as error:  # raised only by a store set to fail closed
        return Lookup(revoked=False, unavailable=str(error))
    return _NOT_REVOKED


def bounded(expires_at: float | None, now: float, max_token_lifetime: float) -> float:
    """Return *expires_at*, defaulting to and capped at now plus the longest lifetime."""
    latest = now + max_token_lifetime
    return latest if expires_at is None else min(expires_at, latest)
