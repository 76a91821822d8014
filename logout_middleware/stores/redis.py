"""A revocation store shared through Redis by any number of processes and machines."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import redis
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import StoreDeferredError, StoreUnavailableError
from .base import DEFAULT_MAX_TOKEN_LIFETIME
from .memory import MemoryStore

__all__ = ["RedisStore"]

logger = logging.getLogger("logout_middleware")

REDIS_LOST = "Redis revocation store unreachable: %s; retrying"
REDIS_SYNCED = "Redis revocation store connected; %d revocations loaded"
REDIS_WRITTEN_BACK = "Redis revocation store: %d revocations written back (%s)"
BAD_MESSAGE = "ignored a malformed message on the Redis revocation channel"

# Keeps the later revocation time and the longer lifetime, then tells every instance (unless ARGV[3] is
# empty: a write-back tells nobody, every instance has it); atomic.
_REVOKE_SCRIPT = """
local value = ARGV[1]
local old = redis.call('GET', KEYS[1])
if old and tonumber(old) and tonumber(old) > tonumber(value) then value = old end
local ttl = math.max(tonumber(ARGV[2]), redis.call('TTL', KEYS[1]))
redis.call('SET', KEYS[1], value, 'EX', ttl)
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
"""
_POLL = 0.25  # seconds between checks for close() while no message comes
_PING_EVERY = 1.0  # seconds between two PINGs on the listener's connection
_SILENCE = 3.0  # seconds without a PONG after which the link counts as cut, even if TCP says nothing
_RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0)  # waits before reconnecting, the last one repeated
_SCAN_BATCH = 500
_WRITE_BACK_BATCH = 1000
#: Revocations held here while Redis cannot take them; past that, a write is refused (503).
MAX_PENDING = 100_000


class RedisStore:
    """A revocation store kept in Redis, with a copy in each process for the per-request check.

    Every revocation is written to Redis with a TTL (``{prefix}sid:{iss}|{sid}``
    and ``{prefix}sub:{iss}|{sub}``, holding the revocation time; ``%`` and
    ``|`` in *iss* are percent-encoded) and published on the channel
    ``{prefix}revocations``.  A daemon thread in each process listens on
    that channel and keeps a local copy, which :meth:`is_revoked` reads
    without any network round trip.  On every (re)connection the thread
    reloads all revocations from Redis, so a process that missed messages
    catches up.  Replayed logout tokens are detected with ``SET NX`` on
    ``{prefix}jti:{iss}|{jti}``.

    What survives what:

    * **Redis unreachable** (down, or the link silently cut: the thread
      PINGs every second and counts three seconds without an answer as a
      lost link): a revocation is taken in the local copy at once, kept to be
      written when Redis is back, and the write raises
      :class:`~logout_middleware.errors.StoreDeferredError` (the
      back-channel receiver answers 503 so that the provider retries;
      front-channel and ``/logout`` count it as recorded);
    * **Redis restarted empty, or failed over** (its ``run_id`` changed):
      each instance writes the revocations of its local copy back, so that
      an instance started later still sees them;
    * ``fail_open`` says what :meth:`is_revoked` does meanwhile.

    .. warning::

        With ``fail_open=True`` (the default), a process that has lost Redis
        keeps answering from its local copy, which lacks the revocations made
        elsewhere since.  That is chosen because the alternative stops every
        logged-in request of the app for as long as Redis is down, while the
        provider cannot deliver new logouts meanwhile anyway (writes fail and
        it retries), and the copy catches up as soon as Redis is back.  Choose
        ``fail_open=False`` when a missed logout is worse than an outage:
        :meth:`is_revoked` then raises :class:`StoreUnavailableError` once
        Redis has been unreachable for more than *grace* seconds (also right
        after start-up, until the first load succeeds).

    :param url: ``redis://[[user]:password@]host:port/db``, ``rediss://...`` for TLS, or
        ``redis+sentinel://[[user]:password@]host:port,host:port/master-name/db``
        (``rediss+sentinel://`` for TLS) to find the master through Redis Sentinel.
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
        grace: float = 5.0,
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
        # One quick retry lets a write survive a connection left stale by a Redis restart.
        self._redis = _client(url, timeout, retries=1)
        # No retries for the listener: redis-py would reconnect and resubscribe silently,
        # and the reload that must follow every reconnection would never happen.
        self._listener = _client(url, timeout, retries=0)
        self._local = MemoryStore(max_token_lifetime=ttl, clock=clock)
        self._revoke = self._redis.register_script(_REVOKE_SCRIPT)
        self._pending: dict[str, tuple[str, str, str, float, float]] = {}  # key -> kind, iss, id, revoked_at, expires
        self._pending_lock = threading.Lock()
        self._run_id: str | None = None
        self._synced = threading.Event()
        self._closed = threading.Event()
        self._lost_since: float | None = time.monotonic()
        self._answered_at: float | None = None
        self._thread = threading.Thread(target=self._listen, name="logout-middleware-redis", daemon=True)
        self._thread.start()

    @staticmethod
    def check_url(url: str) -> None:
        """Raise ValueError unless *url* is a Redis URL this store can use; nothing is opened."""
        if _is_sentinel(url):
            _sentinel_parts(url)
        else:
            redis.connection.parse_url(url)  # type: ignore[no-untyped-call]

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        now = self._clock()
        expires_at = self._expiry(expires_at, now)
        self._local.revoke_session(iss, sid, expires_at)
        self._write_revocation("sid", iss, sid, now, expires_at)

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        expires_at = self._expiry(expires_at, self._clock())
        self._local.revoke_subject(iss, sub, revoked_at, expires_at)
        self._write_revocation("sub", iss, sub, revoked_at, expires_at)

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

    @property
    def pending(self) -> int:
        """How many revocations wait here for Redis to take them."""
        return len(self._pending)

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
        """Store one revocation in Redis and publish it; keep it for later if Redis cannot take it now."""
        entry = (kind, iss, value, revoked_at, expires_at)
        try:
            self._send(entry)
        except (redis.RedisError, OSError) as error:
            key = self._key(kind, iss, value)
            with self._pending_lock:
                if len(self._pending) >= MAX_PENDING and key not in self._pending:
                    raise StoreUnavailableError(
                        f"the Redis revocation store is unreachable ({error}), and {MAX_PENDING} revocations wait"
                    ) from None
                self._pending[key] = entry
            raise StoreDeferredError(f"the Redis revocation store is unreachable: {error}") from None

    def _send(self, entry: tuple[str, str, str, float, float], *, client: Any = None) -> None:
        """Write a revocation (kind, iss, id, revoked at, expires at) and publish it; in a pipeline, only write it."""
        kind, iss, value, revoked_at, expires_at = entry
        seconds = _seconds(expires_at - self._clock())
        if client is None:
            message = json.dumps(
                {"kind": kind, "iss": iss, "id": value, "revoked_at": revoked_at, "expires_at": expires_at}
            )
            self._revoke(keys=[self._key(kind, iss, value)], args=[repr(revoked_at), seconds, self._channel, message])
        else:
            self._revoke(keys=[self._key(kind, iss, value)], args=[repr(revoked_at), seconds, "", ""], client=client)

    def _listen(self) -> None:
        """Keep the local copy in step with Redis until close(); runs in the daemon thread."""
        failures = 0
        while not self._closed.is_set():
            pubsub = self._listener.pubsub()  # type: ignore[no-untyped-call]
            try:
                self._answered_at = None
                self._subscribe(pubsub)
                self._catch_up()
                self._lost_since = None
                self._synced.set()
                failures = 0
                self._follow(pubsub)
            except Exception as error:  # whatever goes wrong, the thread must live on and retry
                self._synced.clear()
                if self._lost_since is None:
                    # Since Redis last answered: a silent link counts from its last word, not from when it was noticed.
                    self._lost_since = self._answered_at or time.monotonic()
                if failures == 0:  # log once per outage, including one that starts at start-up
                    if isinstance(error, (redis.RedisError, OSError)):
                        logger.warning(REDIS_LOST, error)
                    else:
                        logger.exception(REDIS_LOST, type(error).__name__)
            finally:
                pubsub.close()
            self._closed.wait(_RETRY_DELAYS[min(failures, len(_RETRY_DELAYS) - 1)])
            failures += 1

    def _follow(self, pubsub: redis.client.PubSub) -> None:
        """Apply what is published until close(), and notice a link that went silent."""
        answered = pinged = time.monotonic()
        while not self._closed.is_set():
            self._answered_at = answered
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL)
            now = time.monotonic()
            if message is not None:
                answered = now
                if message["type"] != "pong":
                    self._apply(message["data"])
            if now - answered > _SILENCE:
                # A link paused or cut without a reset sends no error: only silence tells.
                raise redis.TimeoutError(f"no answer from Redis for {_SILENCE:g} s")
            if now - pinged >= _PING_EVERY:
                pubsub.ping()
                pinged = now

    def _subscribe(self, pubsub: redis.client.PubSub) -> None:
        """Subscribe and wait for Redis to confirm, so that the reload misses nothing published later."""
        pubsub.subscribe(self._channel)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=self._timeout)
            if message is not None and message["type"] == "subscribe":
                return
        raise redis.TimeoutError("no confirmation of the subscription")

    def _catch_up(self) -> None:
        """After a (re)connection: write back what Redis lost, send what waited here, load what is there."""
        run_id = str(self._redis.info("server").get("run_id", ""))
        if self._run_id is not None and run_id != self._run_id:
            # Another Redis than before (restarted without persistence, or a failed-over replica
            # that had not all writes yet): what this instance knows goes back in.
            count = self._write_back()
            logger.info(REDIS_WRITTEN_BACK, count, "Redis was restarted or failed over")
        self._run_id = run_id
        self._flush_pending()
        logger.info(REDIS_SYNCED, self._reload())

    def _flush_pending(self) -> None:
        with self._pending_lock:
            pending = list(self._pending.items())
        for key, entry in pending:
            if entry[4] > self._clock():
                self._send(entry)
            with self._pending_lock:
                self._pending.pop(key, None)

    def _write_back(self) -> int:
        """Write every live revocation of the local copy to Redis, in pipelined batches; return how many."""
        entries = self._local.live_entries()
        for start in range(0, len(entries), _WRITE_BACK_BATCH):
            pipe = self._redis.pipeline(transaction=False)
            for entry in entries[start : start + _WRITE_BACK_BATCH]:
                self._send(entry, client=pipe)
            pipe.execute()
        return len(entries)

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


def _client(url: str, timeout: float, *, retries: int) -> redis.Redis:
    """A client for *url*: a plain Redis URL, or one that names the master through Sentinel."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "socket_keepalive": True,
        "retry": Retry(NoBackoff(), retries),
    }
    if not _is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    sentinels, master, db, credentials, tls = _sentinel_parts(url)
    sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        sentinels,
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout, "ssl": tls, **credentials},
        ssl=tls,
        **credentials,
    )
    client: redis.Redis = sentinel.master_for(master, db=db, **options)  # type: ignore[no-untyped-call]
    return client


def _is_sentinel(url: str) -> bool:
    return url.lower().startswith(("redis+sentinel://", "rediss+sentinel://"))


def _sentinel_parts(url: str) -> tuple[list[tuple[str, int]], str, int, dict[str, str], bool]:
    """``redis+sentinel://[user:password@]h:p,h:p/master/db`` -> sentinels, master name, db, credentials, TLS."""
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    credentials: dict[str, str] = {}
    if at:
        user, _, password = userinfo.partition(":")
        if user:
            credentials["username"] = unquote(user)
        if password:
            credentials["password"] = unquote(password)
    sentinels = []
    for host in hosts.split(","):
        name, colon, port = host.rpartition(":")
        if not colon or not name or not port.isdigit():
            raise ValueError("each Sentinel is host:port, separated by commas")
        sentinels.append((name.strip("[]"), int(port)))
    master, _, db = path.partition("/")
    if not master:
        raise ValueError("the path names the master: redis+sentinel://host:port/master-name/db")
    if db and not db.isdigit():
        raise ValueError("the database after the master name is a number")
    return sentinels, unquote(master), int(db or 0), credentials, scheme.lower().startswith("rediss")


def _seconds(duration: float) -> int:
    """Return a TTL in whole seconds, at least one (Redis refuses EX 0)."""
    return max(1, math.ceil(duration))
