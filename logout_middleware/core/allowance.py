"""Bounds on what anonymous callers may make the front-channel receiver record.

A front-channel logout comes from the provider's page in the user's browser,
often without any of our cookies, so it cannot be authenticated.  Sessions
this process has seen in a verified request are revoked at once; for the
others (seen by another instance, or never), a token bucket limits the
rate, and a cap limits how many such revocations are held at a time.
Without them, anyone could grow the store without bound.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["SeenSessions", "UnconfirmedAllowance"]


def _monotonic() -> float:
    return time.monotonic()


class SeenSessions:
    """The provider sessions (``iss``, ``sid``) this process saw in trusted requests, the latest *size* of them.

    Kept as hashes: Python's string hash is keyed per process, so a caller
    cannot make another session's hash on purpose.
    """

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._seen: dict[int, None] = {}

    def add(self, iss: str, sid: str) -> None:
        seen = self._seen
        key = hash((iss, sid))
        if key in seen:
            return
        if len(seen) >= self._size:
            del seen[next(iter(seen))]  # the oldest: dicts keep insertion order
        seen[key] = None

    def __contains__(self, session: tuple[str, str]) -> bool:
        return hash(session) in self._seen


class UnconfirmedAllowance:
    """How many revocations of sessions this process never saw may still be recorded, and how fast.

    :param rate: revocations per second, on average.
    :param burst: revocations at once after a quiet time.
    :param cap: revocations held at a time (each is held for *lifetime* seconds).
    :param lifetime: how long each is held, in seconds.
    """

    def __init__(
        self,
        *,
        rate: float = 10.0,
        burst: int = 100,
        cap: int = 10_000,
        lifetime: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._rate, self._burst, self._cap, self._lifetime = rate, float(burst), cap, lifetime
        self._clock = clock or _monotonic
        self._tokens = float(burst)
        self._refilled_at = self._clock()
        self._held: deque[float] = deque()  # when each one held expires

    def take(self) -> bool:
        """Use up one revocation if the allowance has one; False when it is spent."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled_at) * self._rate)
        self._refilled_at = now
        held = self._held
        while held and held[0] <= now:
            held.popleft()
        if self._tokens < 1 or len(held) >= self._cap:
            return False
        self._tokens -= 1
        held.append(now + self._lifetime)
        return True
