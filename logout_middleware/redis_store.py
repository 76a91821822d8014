"""A revocation store shared through Redis by any number of processes and machines."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .revocation import DEFAULT_MAX_TOKEN_LIFETIME, MemoryStore, StoreUnavailableError

__all__ = ["RedisStore"]

logger = logging.getLogger("logout_middleware")

REDIS_LOST = "Redis revocation store unreachable: %s; retrying"
REDIS_SYNCED = "Redis revocation store connected; %d revocations loaded"
BAD_MESSAGE = "ignored a malformed message on the Redis revocation channel"

# Keeps the later revocation time and the longer lifetime, then tells every instance; atomic.
_REVOKE_SCRIPT = """
local value = ARGV[1]
local old = redis.call('GET', KEYS[1])
if old and tonumber(old) and tonumber(old) > tonumber(value) then value = old end
local ttl = math.max(tonumber(ARGV[2]), redis.call('TTL', KEYS[1]))
redis.call('SET', KEYS[1], value, 'EX', ttl)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""
_POLL = 0.25  # seconds between checks for close() while no message comes
_RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0)  # waits before reconnecting, the last one repeated
_SCAN_BATCH = 500


class RedisStore:
    """A revocation store kept in Redis, with a copy in each process for the per-request check.

    Every revocation is written to Redis with a TTL (``{prefix}sid:{iss}|{sid}``
    and ``{prefix}sub:{iss}|{sub}``, holding the revocation time; ``%`` and
    ``|`` in *iss* are percent-encoded) and published on the channel
    ``{prefix}revocations``.  A daemon thread in
    each process listens on that channel and keeps a local copy, which
    :meth:`is_revoked` reads without any network round trip.  On every
    (re)connection the thread reloads all revocations from Redis, so a
    process that missed messages catches up.  Replayed logout tokens are
    detected with ``SET NX`` on ``{prefix}jti:{iss}|{jti}``.

    When Redis cannot be reached, writes raise :class:`StoreUnavailableError`
    (answer the provider 503: it retries later) and :meth:`is_revoked`
    behaves as *fail_open* says.

    .. warning::

        With ``fail_open=True`` (the default), a process that has lost Redis
        keeps answering from its local copy, which lacks the revocations made
        since.  That is chosen because the alternative stops every logged-in
        request of the app for as long as Redis is down, while the provider
        cannot deliver new logouts meanwhile anyway (writes fail and it
        retries), and the copy catches up as soon as Redis is back.  Choose
        ``fail_open=False`` when a missed logout is worse than an outage:
        :meth:`is_revoked` then raises :class:`StoreUnavailableError` once
        Redis has been unreachable for more than *grace* seconds (also right
        after start-up, until the first load succeeds).

    :param url: ``redis://[[user]:password@]host:port/db`` or ``rediss://...`` for TLS.
    :param ttl: the longest a revocation is kept, in seconds; at least as long
        as an app session (its id_token cookie) can live.
    :param fail_open: keep answering from the local copy while Redis is away.
    :param grace: seconds without Redis before ``fail_open=False`` refuses to answer.
    :param prefix: the start of every key and of the channel name.
    :param timeout: seconds to wait for Redis to connect or answer a write.
    :param clock: returns the current time in seconds since the epoch.

    .. code-block:: python

        store = RedisStore("redis://127.0.0.1:6379/0", ttl=8 * 3600)
        store.wait_until_synced(2.0)
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float = DEFAULT_MAX_TOKEN_LIFETIME,
        fail_open: bool = True,
        grace: float = 30.0,
        prefix: str = "logout:",
        timeout: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.fail_open = fail_open
        self.grace = grace
        self._prefix = prefix
        self._channel = prefix + "revocations"
        self._clock = clock
        self._timeout = timeout
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        # One quick retry lets a write survive a connection left stale by a Redis restart.
        self._redis = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)
        # No retries for the listener: redis-py would reconnect and resubscribe silently,
        # and the reload that must follow every reconnection would never happen.
        self._listener = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **options)
        self._local = MemoryStore(max_token_lifetime=ttl, clock=clock)
        self._revoke = self._redis.register_script(_REVOKE_SCRIPT)
        self._synced = threading.Event()
        self._closed = threading.Event()
        self._lost_since: float | None = time.monotonic()
        self._thread = threading.Thread(target=self._listen, name="logout-middleware-redis", daemon=True)
        self._thread.start()

    @staticmethod
    def check_url(url: str) -> None:
        """Raise ValueError unless *url* is a Redis URL this store can use; nothing is opened."""
        redis.connection.parse_url(url)  # type: ignore[no-untyped-call]

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        now = self._clock()
        expires_at = self._expiry(expires_at, now)
        self._write_revocation("sid", iss, sid, now, expires_at)
        self._local.revoke_session(iss, sid, expires_at)

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        expires_at = self._expiry(expires_at, self._clock())
        self._write_revocation("sub", iss, sub, revoked_at, expires_at)
        self._local.revoke_subject(iss, sub, revoked_at, expires_at)

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        if not self.fail_open:
            lost_since = self._lost_since
            if lost_since is not None and time.monotonic() - lost_since > self.grace:
                raise StoreUnavailableError(f"the Redis revocation store has been unreachable for over {self.grace} s")
        return self._local.is_revoked(iss, sid, sub, issued_at)

    def check_and_remember_jti(self, iss: str, jti: str, expires_at: float | None = None) -> bool:
        now = self._clock()
        seconds = _seconds(self._expiry(expires_at, now) - now)
        try:
            return bool(self._redis.set(self._key("jti", iss, jti), "1", nx=True, ex=seconds))
        except (redis.RedisError, OSError) as error:
            raise StoreUnavailableError(f"the Redis revocation store is unreachable: {error}") from None

    def wait_until_synced(self, timeout: float) -> bool:
        """Wait until the local copy has been loaded from Redis; False if *timeout* passed first."""
        return self._synced.wait(timeout)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=_POLL + self._timeout + 1.0)
        self._redis.close()
        self._listener.close()

    def _expiry(self, expires_at: float | None, now: float) -> float:
        """Return *expires_at*, defaulting to and capped at now plus the TTL."""
        return now + self.ttl if expires_at is None else min(expires_at, now + self.ttl)

    def _key(self, kind: str, iss: str, value: str) -> str:
        # Escaping '%' and '|' in iss keeps keys unambiguous; sid and sub may hold '|' (Auth0 does).
        return f"{self._prefix}{kind}:{iss.replace('%', '%25').replace('|', '%7C')}|{value}"

    def _write_revocation(self, kind: str, iss: str, value: str, revoked_at: float, expires_at: float) -> None:
        """Store one revocation in Redis and publish it, or raise StoreUnavailableError."""
        message = json.dumps(
            {"kind": kind, "iss": iss, "id": value, "revoked_at": revoked_at, "expires_at": expires_at}
        )
        seconds = _seconds(expires_at - self._clock())
        try:
            self._revoke(keys=[self._key(kind, iss, value)], args=[repr(revoked_at), seconds, self._channel, message])
        except (redis.RedisError, OSError) as error:
            raise StoreUnavailableError(f"the Redis revocation store is unreachable: {error}") from None

    def _listen(self) -> None:
        """Keep the local copy in step with Redis until close(); runs in the daemon thread."""
        failures = 0
        while not self._closed.is_set():
            pubsub = self._listener.pubsub()  # type: ignore[no-untyped-call]
            try:
                self._subscribe(pubsub)
                count = self._reload()
                self._lost_since = None
                self._synced.set()
                failures = 0
                logger.info(REDIS_SYNCED, count)
                while not self._closed.is_set():
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL)
                    if message is not None:
                        self._apply(message["data"])
            except Exception as error:  # whatever goes wrong, the thread must live on and retry
                self._synced.clear()
                if self._lost_since is None:
                    self._lost_since = time.monotonic()
                if failures == 0:  # log once per outage, including one that starts at start-up
                    if isinstance(error, (redis.RedisError, OSError)):
                        logger.warning(REDIS_LOST, error)
                    else:
                        logger.exception(REDIS_LOST, type(error).__name__)
            finally:
                pubsub.close()
            self._closed.wait(_RETRY_DELAYS[min(failures, len(_RETRY_DELAYS) - 1)])
            failures += 1

    def _subscribe(self, pubsub: redis.client.PubSub) -> None:
        """Subscribe and wait for Redis to confirm, so that the reload misses nothing published later."""
        pubsub.subscribe(self._channel)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=self._timeout)
            if message is not None and message["type"] == "subscribe":
                return
        raise redis.TimeoutError("no confirmation of the subscription")

    def _reload(self) -> int:
        """Merge every revocation held in Redis into the local copy; return how many were read.

        Merged, not replaced: if Redis lost its data, the revocations this
        process already knows stay in force until they expire.
        """
        count = 0
        for kind in ("sid", "sub"):
            keys = list(self._redis.scan_iter(match=f"{self._prefix}{kind}:*", count=_SCAN_BATCH))
            for start in range(0, len(keys), _SCAN_BATCH):
                batch = keys[start : start + _SCAN_BATCH]
                pipe = self._redis.pipeline(transaction=False)
                for key in batch:
                    pipe.get(key)
                    pipe.pttl(key)
                replies = pipe.execute()
                now = self._clock()
                for key, value, pttl in zip(batch, replies[::2], replies[1::2], strict=True):
                    count += self._apply_key(kind, key, value, pttl, now)
        return count

    def _apply_key(self, kind: str, key: str, value: str | None, pttl: int, now: float) -> int:
        """Copy one reloaded key into the local copy; return 1 if it was a live revocation."""
        iss, _, ident = key[len(self._prefix) + len(kind) + 1 :].partition("|")
        try:
            revoked_at = float(value or "")
        except ValueError:
            return 0
        if pttl <= 0 or not ident:  # expired meanwhile, or no TTL: not written by this class
            return 0
        iss = iss.replace("%7C", "|").replace("%25", "%")
        if kind == "sid":
            self._local.revoke_session(iss, ident, now + pttl / 1000)
        else:
            self._local.revoke_subject(iss, ident, revoked_at, now + pttl / 1000)
        return 1

    def _apply(self, data: str) -> None:
        """Copy one published revocation into the local copy."""
        try:
            message = json.loads(data)
            kind, iss, ident = message["kind"], message["iss"], message["id"]
            revoked_at, expires_at = float(message["revoked_at"]), float(message["expires_at"])
            if not isinstance(iss, str) or not isinstance(ident, str):
                raise TypeError(ident)
        except (ValueError, TypeError, KeyError):
            logger.warning(BAD_MESSAGE)
            return
        if kind == "sid":
            self._local.revoke_session(iss, ident, expires_at)
        elif kind == "sub":
            self._local.revoke_subject(iss, ident, revoked_at, expires_at)


def _seconds(duration: float) -> int:
    """Return a TTL in whole seconds, at least one (Redis refuses EX 0)."""
    return max(1, math.ceil(duration))
