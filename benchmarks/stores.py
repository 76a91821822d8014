"""Revocation stores filled as a busy provider leaves them: thousands of revoked sessions.

Recording 10,000 revocations one ``revoke_session`` at a time takes seconds
(a transaction, or a Redis round trip, each): longer than the measurement
itself.  So the filler goes in with one transaction or one pipeline, in the
formats the stores document (SQLiteStore's ``logout_sessions`` table,
RedisStore's ``{prefix}sid:{iss}|{sid}`` keys holding the revocation time),
while the sessions the benchmarks send go through the store's own
``revoke_session``, exactly as a back-channel logout would write them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Sequence

import redis

from logout_middleware.revocation import DEFAULT_MAX_TOKEN_LIFETIME, RevocationStore, open_store

#: RedisStore's default key prefix.
REDIS_PREFIX = "logout:"


def filler_sids(count: int) -> list[str]:
    """*count* session ids, shaped as providers' are (UUIDs), so that keys are as long as real ones."""
    return [f"{index:08x}-0000-4000-8000-000000000000" for index in range(count)]


def revoke(store: RevocationStore, issuer: str, sids: Sequence[str]) -> None:
    """Revoke *sids* one by one through the store's API: fast for a MemoryStore only."""
    for sid in sids:
        store.revoke_session(issuer, sid)


def prefill(url: str, issuer: str, *, revoked: Sequence[str], filler: int) -> None:
    """Revoke *revoked* through the store at *url* (sqlite or redis), then add *filler* more sessions in bulk.

    The store is opened (which creates the SQLite tables) and closed again:
    whoever opens it next finds it filled.
    """
    store = open_store(url)
    try:
        revoke(store, issuer, revoked)
    finally:
        store.close()
    expires_at = time.time() + DEFAULT_MAX_TOKEN_LIFETIME
    sids = filler_sids(filler)
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as db, db:  # `with db`: one transaction
            db.executemany(
                "INSERT OR REPLACE INTO logout_sessions VALUES (?, ?, ?)", [(issuer, sid, expires_at) for sid in sids]
            )
        return
    # RedisStore escapes '%' and '|' in the issuer; the benchmarks' issuers hold neither.
    if "%" in issuer or "|" in issuer:
        raise ValueError(f"the filler's keys would need escaping for the issuer {issuer!r}")
    client = redis.Redis.from_url(url)
    try:
        pipe = client.pipeline(transaction=False)
        revoked_at = repr(time.time())
        for sid in sids:
            pipe.set(f"{REDIS_PREFIX}sid:{issuer}|{sid}", revoked_at, ex=DEFAULT_MAX_TOKEN_LIFETIME)
        pipe.execute()
    finally:
        client.close()


class RedisCommandCounter:
    """Counts the commands a Redis server processes between readings, the readings themselves left out.

    One connection serves every reading: a new one would send HELLO, which
    the count would take for the code under test.
    """

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._total = self._read()

    def _read(self) -> int:
        return int(self._client.info("stats")["total_commands_processed"])

    def since_last(self) -> int:
        """Commands processed since the last reading (or since this counter was made)."""
        total = self._read()
        # A reading reports the count before its own INFO, so the next one counts it.
        count, self._total = total - self._total - 1, total
        return count

    def close(self) -> None:
        self._client.close()
