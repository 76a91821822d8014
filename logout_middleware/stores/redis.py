"""A revocation store shared through Redis (a server, Sentinel, or a Cluster) by any number of machines."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import redis
import redis.cluster
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import events
from ..errors import StoreDeferredError, StoreUnavailableError
from .base import DEFAULT_MAX_TOKEN_LIFETIME, StoreStatus
from .revocations import DIGEST_SIZE, HOUR, RevocationSet, expiry_hour, session_digest, subject_digest

__all__ = ["RedisStore"]

REDIS_LOST = "Redis revocation store unreachable: %s; retrying"
REDIS_SYNCED = "Redis revocation store connected; %d revocations loaded in %.2f s"
REDIS_WRITTEN_BACK = "Redis revocation store: %d revocations written back (Redis had lost them)"
BAD_MESSAGE = "ignored a malformed message on the Redis revocation channel"

# Each script touches one key, so that a Cluster runs it on the node of that key, atomically: the
# revocation is stored before anyone is told (unless the channel, ARGV[3] or ARGV[4], is empty).
_REVOKE_SESSION_SCRIPT = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
"""
# A subject's revocation time only moves forward: a late, older one must not un-revoke newer sessions.
_REVOKE_SUBJECT_SCRIPT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old or tonumber(old) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('EXPIREAT', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
"""
_WRITE_BACK_SESSIONS_SCRIPT = """
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 1
"""
_WRITE_BACK_SUBJECTS_SCRIPT = """
for i = 2, #ARGV, 2 do
    local old = redis.call('HGET', KEYS[1], ARGV[i])
    if not old or tonumber(old) < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 1
"""
# A set of digests as one string, 16 bytes each: one reply to parse instead of one per member.
_LOAD_SESSIONS_SCRIPT = "return table.concat(redis.call('SMEMBERS', KEYS[1]))"
_POLL = 0.25  # seconds between checks for close() while no message comes
_PING_EVERY = 1.0  # seconds between two PINGs on the listener's connection
_SILENCE = 3.0  # seconds without a PONG after which the link counts as cut, even if TCP says nothing
_AUDIT_EVERY = 10.0  # seconds between two comparisons of what Redis holds with the local copy
_RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0)  # waits before reconnecting, the last one repeated
_WRITE_BACK_BATCH = 2000  # revocations per write-back script call (Lua's unpack takes some 8000)
#: The sets each hour's session revocations are spread over: a Cluster spreads them over its masters.
SHARDS = 16
_KEY_MARGIN = 60  # seconds a key outlives its hour, for clocks that differ a little between machines
#: Revocations held here while Redis cannot take them; past that, a write is refused (503).
MAX_PENDING = 100_000

Revocation = tuple[str, bytes, float, int]  # "sid" or "sub", digest, revoked at, the hour it ends


class RedisStore:
    """A revocation store kept in Redis, with a copy in each process for the per-request check.

    **In Redis**, the sessions whose revocations end in the same hour are
    :data:`SHARDS` sets, ``{prefix}sessions:{hour}:{shard}``, of their
    16-byte digests (see :mod:`.revocations`; the shard is the digest's first
    byte modulo the count); the subjects, one hash ``{prefix}subjects:{hour}``
    from digest to revocation time.  Each key expires once its hour has
    passed.  So a new instance loads a million revocations with a few
    hundred commands in one pipeline, each set coming back as one string of
    digests: about a second, not a million reads.  Every write is also
    published on ``{prefix}revocations``; a daemon thread in each process
    listens there and keeps the local copy, which :meth:`is_revoked` reads
    without any network round trip.  Replayed logout tokens are detected
    with ``SET NX`` on ``{prefix}jti:{iss}|{jti}``.  Every command names one
    key, so the same layout works on a Redis Cluster.

    What survives what:

    * **Redis unreachable** (down, or the link silently cut: the thread
      PINGs every second and counts three seconds without an answer as a
      lost link): a revocation is taken in the local copy at once, kept to be
      written when Redis is back, and the write raises
      :class:`~logout_middleware.errors.StoreDeferredError` (the back-channel
      receiver answers 503 so that the provider retries; front-channel and
      ``/logout`` count it as recorded);
    * **Redis restarted empty, or failed over before a write reached the
      replica**: every ten seconds, and after every reconnection, each
      instance compares how many revocations each hour holds in Redis with
      its local copy, and writes back the hours Redis is short of;
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

    :param url: ``redis://[[user]:password@]host:port/db``, ``rediss://...`` for TLS;
        ``redis+sentinel://[[user]:password@]host:port,host:port/master-name/db``
        (``rediss+sentinel://``) to find the master through Redis Sentinel; or
        ``redis+cluster://[[user]:password@]host:port,host:port`` (``rediss+cluster://``)
        for a Redis Cluster, any of its nodes.
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
        self._url = url
        self._prefix = prefix
        self._channel = prefix + "revocations"
        self._clock = clock
        self._timeout = timeout
        #: This process's copy of the revocations.
        self.revocations = RevocationSet()
        # Revocations Redis could not take yet, by kind, digest and hour: one taken with two ends waits with both.
        self._pending: dict[tuple[str, bytes, int], Revocation] = {}
        self._pending_lock = threading.Lock()
        # Revocations taken locally whose write to Redis is under way, by kind and hour: the audit must not
        # count them as lost.  Taking one and counting it happen under the lock, as does the audit's reading.
        self._in_flight: dict[tuple[str, int], int] = {}
        self._in_flight_lock = threading.Lock()
        self._synced = threading.Event()
        self._closed = threading.Event()
        self._lost_since: float | None = time.monotonic()
        self._answered_at: float | None = None
        # A Cluster client connects as it is made: the listener thread makes it; the others connect when used.
        self._redis: Any = None if _is_cluster(url) else _client(url, timeout, retries=1)
        self._listener: Any = None
        self._thread = threading.Thread(target=self._listen, name="logout-middleware-redis", daemon=True)
        self._thread.start()

    @staticmethod
    def check_url(url: str) -> None:
        """Raise ValueError unless *url* is a Redis URL this store can use; nothing is opened."""
        if _is_sentinel(url) or _is_cluster(url):
            _many_hosts(url, names_master=_is_sentinel(url))
        else:
            redis.connection.parse_url(url)  # type: ignore[no-untyped-call]

    def revoke_session(self, iss: str, sid: str, expires_at: float | None = None) -> None:
        hour = expiry_hour(self._expiry(expires_at, self._clock()))
        digest = session_digest(iss, sid)
        self._take(("sid", digest, 0.0, hour), lambda: self.revocations.add_sessions((digest,), hour))

    def revoke_subject(self, iss: str, sub: str, revoked_at: float, expires_at: float | None = None) -> None:
        hour = expiry_hour(self._expiry(expires_at, self._clock()))
        digest = subject_digest(iss, sub)
        self._take(("sub", digest, revoked_at, hour), lambda: self.revocations.add_subject(digest, revoked_at, hour))

    def _take(self, revocation: Revocation, add_locally: Callable[[], object]) -> None:
        """Add *revocation* to the local copy, then write it to Redis, counted as in flight meanwhile."""
        flight = (revocation[0], revocation[3])
        with self._in_flight_lock:
            add_locally()
            self._in_flight[flight] = self._in_flight.get(flight, 0) + 1
        try:
            self._write(revocation)
        finally:
            with self._in_flight_lock:
                left = self._in_flight.pop(flight) - 1
                if left:
                    self._in_flight[flight] = left

    def is_revoked(self, iss: str, sid: str | None, sub: str | None, issued_at: float | None) -> bool:
        if not self.fail_open:
            lost_since = self._lost_since
            if lost_since is not None and time.monotonic() - lost_since > self.grace:
                raise StoreUnavailableError(f"the Redis revocation store has been unreachable for over {self.grace} s")
        return self.revocations.revokes(iss, sid, sub, issued_at, self._clock())

    @property
    def generation(self) -> int | None:
        """Grows with every revocation the local copy takes; None while failing closed may soon refuse."""
        if not self.fail_open and self._lost_since is not None:
            return None
        return self.revocations.generation

    def check_and_remember_jti(self, iss: str, jti: str, expires_at: float | None = None) -> bool:
        now = self._clock()
        seconds = _seconds(self._expiry(expires_at, now) - now)
        key = f"{self._prefix}jti:{iss.replace('%', '%25').replace('|', '%7C')}|{jti}"
        client = self._redis
        if client is None:
            raise StoreUnavailableError("the Redis revocation store is not connected yet")
        try:
            return bool(client.set(key, "1", nx=True, ex=seconds))
        except (redis.RedisError, OSError) as error:
            raise StoreUnavailableError(f"the Redis revocation store is unreachable: {error}") from None

    def wait_until_synced(self, timeout: float) -> bool:
        """Wait until the local copy has been loaded from Redis; False if *timeout* passed first."""
        return self._synced.wait(timeout)

    @property
    def pending(self) -> int:
        """How many revocations wait here for Redis to take them."""
        return len(self._pending)

    def status(self) -> StoreStatus:
        """The lag is 0 while the copy follows Redis; else the seconds since Redis last answered (or since the store
        was made, before the first load)."""
        lost_since = self._lost_since
        lag = 0.0 if lost_since is None else max(0.0, time.monotonic() - lost_since)
        return StoreStatus("redis", lag, len(self.revocations), len(self._pending))

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=_POLL + self._timeout + 1.0)
        for client in (self._redis, self._listener):
            if client is not None:
                client.close()

    def _expiry(self, expires_at: float | None, now: float) -> float:
        """Return *expires_at*, defaulting to and capped at now plus the TTL."""
        return now + self.ttl if expires_at is None else min(expires_at, now + self.ttl)

    # -- writing -------------------------------------------------------------------

    def _write(self, revocation: Revocation) -> None:
        """Store one revocation in Redis and publish it; keep it for later if Redis cannot take it now."""
        try:
            if self._redis is None:
                raise redis.ConnectionError("not connected yet")
            self._send(revocation)
        except (redis.RedisError, OSError) as error:
            key = (revocation[0], revocation[1], revocation[3])
            with self._pending_lock:
                if len(self._pending) >= MAX_PENDING and key not in self._pending:
                    raise StoreUnavailableError(
                        f"the Redis revocation store is unreachable ({error}), and {MAX_PENDING} revocations wait"
                    ) from None
                waiting = self._pending.get(key)
                if waiting is None or revocation[2] >= waiting[2]:  # of a subject, the later revocation wins
                    self._pending[key] = revocation
            raise StoreDeferredError(f"the Redis revocation store is unreachable: {error}") from None

    def _send(self, revocation: Revocation) -> None:
        kind, digest, revoked_at, hour = revocation
        if kind == "sid":
            key, message = self._session_key(hour, digest), b"s" + digest + str(hour).encode()
            self._redis.eval(_REVOKE_SESSION_SCRIPT, 1, key, digest, hour + _KEY_MARGIN, self._channel, message)
        else:
            times = f"{float(revoked_at)!r} {hour}".encode()
            key, message = self._subject_key(hour), b"u" + digest + times
            self._redis.eval(
                _REVOKE_SUBJECT_SCRIPT,
                1,
                key,
                digest,
                repr(float(revoked_at)),
                hour + _KEY_MARGIN,
                self._channel,
                message,
            )

    def _session_key(self, hour: int, digest: bytes) -> str:
        return f"{self._prefix}sessions:{hour}:{digest[0] % SHARDS}"

    def _subject_key(self, hour: int) -> str:
        return f"{self._prefix}subjects:{hour}"

    def _hours(self) -> list[int]:
        """The hours a live revocation can end in, from now to the end of ``ttl``."""
        first = expiry_hour(self._clock())
        return list(range(first, first + (math.ceil(self.ttl / HOUR) + 2) * HOUR, HOUR))

    # -- the listener ----------------------------------------------------------------

    def _listen(self) -> None:
        """Keep the local copy in step with Redis until close(); runs in the daemon thread."""
        failures = 0
        while not self._closed.is_set():
            pubsub = None
            try:
                self._connect(after_failure=failures > 0)
                pubsub = self._listener.pubsub()
                self._answered_at = None
                self._subscribe(pubsub)
                self._catch_up(reconnect=failures > 0)
                self._lost_since = None
                self._synced.set()
                failures = 0
                self._follow(pubsub)
            except Exception as error:  # whatever goes wrong, the thread must live on and retry
                self._synced.clear()
                if self._closed.is_set():  # closed while it waited on Redis: what failed since is no news
                    break
                if self._lost_since is None:
                    # Since Redis last answered: a silent link counts from its last word, not from when it was noticed.
                    self._lost_since = self._answered_at or time.monotonic()
                if failures == 0:  # log once per outage, including one that starts at start-up
                    name = type(error).__name__
                    if isinstance(error, (redis.RedisError, OSError)):
                        events.emit(events.STORE_LOST, REDIS_LOST, error, store="redis", error_type=name)
                    else:
                        events.emit(
                            events.STORE_LISTENER_ERROR, REDIS_LOST, name, exc_info=True, store="redis", error_type=name
                        )
            finally:
                if pubsub is not None:
                    pubsub.close()
            self._closed.wait(_RETRY_DELAYS[min(failures, len(_RETRY_DELAYS) - 1)])
            failures += 1

    def _connect(self, *, after_failure: bool) -> None:
        if self._redis is None:
            # One quick retry lets a write survive a connection left stale by a Redis restart.
            self._redis = _client(self._url, self._timeout, retries=1)
        if self._listener is None:
            # No retries for the listener: redis-py would reconnect and resubscribe silently,
            # and the catching up that must follow every reconnection would never happen.
            self._listener = _client(self._url, self._timeout, retries=0)
        elif after_failure and _is_cluster(self._url):
            # The node it listened on, or the one redis-py asks about commands, may be gone:
            # ask the cluster again who serves what.
            self._listener.nodes_manager.initialize()
            self._redis.nodes_manager.initialize()

    def _follow(self, pubsub: Any) -> None:
        """Apply what is published until close(); notice a link that went silent; audit now and then."""
        answered = pinged = audited = time.monotonic()
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
            if now - audited >= _AUDIT_EVERY:
                self.revocations.prune(self._clock())
                self._flush_pending()  # sent (and published) as soon as Redis answers, not taken for lost ones
                self._write_back_missing()
                audited = now

    def _subscribe(self, pubsub: Any) -> None:
        """Subscribe and wait for Redis to confirm, so that the load misses nothing published later."""
        pubsub.subscribe(self._channel)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=self._timeout)
            if message is not None and message["type"] == "subscribe":
                return
        raise redis.TimeoutError("no confirmation of the subscription")

    def _catch_up(self, *, reconnect: bool) -> None:
        """After a (re)connection: send what waited here, load what is there, write back what Redis lost."""
        started = time.monotonic()
        self._flush_pending()
        self._convert_version_1()
        loaded = self._load()
        self._write_back_missing()
        took = time.monotonic() - started
        events.emit(
            events.STORE_SYNCED, REDIS_SYNCED, loaded, took,
            store="redis", revocations=loaded, seconds=round(took, 3), reconnect=reconnect,
        )  # fmt: skip

    def _flush_pending(self) -> None:
        with self._pending_lock:
            pending = list(self._pending.items())
        now = self._clock()
        for key, revocation in pending:
            if revocation[3] > now:
                self._send(revocation)
            with self._pending_lock:
                if self._pending.get(key) is revocation:  # not a newer one that failed meanwhile
                    del self._pending[key]

    def _convert_version_1(self) -> None:
        """Move the revocations version 0.1 left (a key per revocation, iss and id in clear) into the hours' keys.

        Once per Redis: a marker key says it was done.
        """
        marker = f"{self._prefix}layout"
        if self._redis.get(marker) == b"2":
            return
        now = self._clock()
        for kind in ("sid", "sub"):
            start = len(self._prefix) + len(kind) + 1
            keys = list(self._redis.scan_iter(match=f"{self._prefix}{kind}:*", count=1000))
            for first in range(0, len(keys), _WRITE_BACK_BATCH):
                batch = keys[first : first + _WRITE_BACK_BATCH]
                pipe = self._redis.pipeline(transaction=False)
                for key in batch:
                    pipe.get(key)
                    pipe.pttl(key)
                replies = pipe.execute()
                for key, value, pttl in zip(batch, replies[::2], replies[1::2], strict=True):
                    iss, _, ident = key.decode("utf-8", "surrogateescape")[start:].partition("|")
                    iss = iss.replace("%7C", "|").replace("%25", "%")
                    try:
                        revoked_at = float(value or b"")
                    except ValueError:
                        continue
                    if pttl > 0 and ident:
                        hour = expiry_hour(now + pttl / 1000)
                        if kind == "sid":
                            self._send(("sid", session_digest(iss, ident), 0.0, hour))
                        else:
                            self._send(("sub", subject_digest(iss, ident), revoked_at, hour))
        self._redis.set(marker, "2")

    def _load(self) -> int:
        """Merge every revocation held in Redis into the local copy; return how many were read.

        Merged, not replaced: if Redis lost its data, the revocations this
        process already knows stay in force until they expire.
        """
        count = 0
        for hour in self._hours():  # an hour at a time: the replies of all of them at once would double the memory
            pipe = self._redis.pipeline(transaction=False)
            for shard in range(SHARDS):
                # As a raw command: a Cluster pipeline refuses eval() but routes EVAL by its key.
                pipe.execute_command("EVAL", _LOAD_SESSIONS_SCRIPT, 1, f"{self._prefix}sessions:{hour}:{shard}")
            pipe.hgetall(self._subject_key(hour))
            *sets, subjects = pipe.execute()
            for shard, reply in enumerate(sets):
                digests = _digests(reply)
                if digests is None:  # not a whole number of digests: a member that is not ours
                    members = self._redis.smembers(f"{self._prefix}sessions:{hour}:{shard}")
                    digests = [member for member in members if len(member) == DIGEST_SIZE]
                self.revocations.add_sessions(digests, hour)
                count += len(digests)
            for digest, value in subjects.items():
                revoked_at = _number(value)
                if len(digest) == DIGEST_SIZE and revoked_at is not None:
                    self.revocations.add_subject(digest, revoked_at, hour)
                    count += 1
        return count

    def _write_back_missing(self) -> None:
        """Write back the hours of which Redis holds fewer revocations than the local copy (it lost some).

        Both count a revocation taken with two ends in both hours' keys, so that it hides no loss beside it.
        """
        held = self.revocations
        with self._in_flight_lock:
            # What Redis must hold at least, by hour: what this copy holds, but for the writes still on their way.
            at_least = {
                kind: {hour: count - self._in_flight.get((kind, hour), 0) for hour, count in counts.items()}
                for kind, counts in (("sid", held.session_counts), ("sub", held.subject_counts))
            }
        hours = sorted(at_least["sid"].keys() | at_least["sub"].keys())
        if not hours:
            return
        pipe = self._redis.pipeline(transaction=False)
        for hour in hours:
            for shard in range(SHARDS):
                pipe.scard(f"{self._prefix}sessions:{hour}:{shard}")
            pipe.hlen(self._subject_key(hour))
        replies = iter(pipe.execute())
        written = 0
        for hour in hours:
            in_redis = sum(next(replies) for _ in range(SHARDS))
            subjects_in_redis = next(replies)
            short_of_sessions = in_redis < at_least["sid"].get(hour, 0)
            short_of_subjects = subjects_in_redis < at_least["sub"].get(hour, 0)
            if short_of_sessions or short_of_subjects:
                sessions, subjects = held.ending(hour)
                written += self._write_back(hour, sessions if short_of_sessions else [], subjects)
        if written:
            events.emit(events.STORE_WRITTEN_BACK, REDIS_WRITTEN_BACK, written, store="redis", revocations=written)

    def _write_back(self, hour: int, sessions: list[bytes], subjects: list[tuple[bytes, float]]) -> int:
        by_shard: dict[int, list[bytes]] = {}
        for digest in sessions:
            by_shard.setdefault(digest[0] % SHARDS, []).append(digest)
        expire_at = hour + _KEY_MARGIN
        for shard, digests in by_shard.items():
            key = f"{self._prefix}sessions:{hour}:{shard}"
            for first in range(0, len(digests), _WRITE_BACK_BATCH):
                self._redis.eval(
                    _WRITE_BACK_SESSIONS_SCRIPT, 1, key, expire_at, *digests[first : first + _WRITE_BACK_BATCH]
                )
        for first in range(0, len(subjects), _WRITE_BACK_BATCH):
            args = [
                part
                for digest, revoked_at in subjects[first : first + _WRITE_BACK_BATCH]
                for part in (digest, repr(revoked_at))
            ]
            self._redis.eval(_WRITE_BACK_SUBJECTS_SCRIPT, 1, self._subject_key(hour), expire_at, *args)
        return len(sessions) + len(subjects)

    def _apply(self, data: bytes) -> None:
        """Copy one published revocation into the local copy: ``s`` or ``u``, the digest, then the times."""
        kind, digest = data[:1], data[1 : 1 + DIGEST_SIZE]
        times = [number for part in data[1 + DIGEST_SIZE :].split(b" ") if (number := _number(part)) is not None]
        well_formed = len(digest) == DIGEST_SIZE and data.count(b" ", 1 + DIGEST_SIZE) == len(times) - 1
        if kind == b"s" and well_formed and len(times) == 1:
            self.revocations.add_sessions((digest,), expiry_hour(times[0]))
        elif kind == b"u" and well_formed and len(times) == 2:
            self.revocations.add_subject(digest, times[0], times[1])
        else:
            events.emit(events.STORE_BAD_MESSAGE, BAD_MESSAGE, store="redis")


def _digests(reply: object) -> list[bytes] | None:
    """The digests in a set loaded as one string; None if the string is not a whole number of them."""
    if not isinstance(reply, bytes) or len(reply) % DIGEST_SIZE:
        return None
    return [reply[i : i + DIGEST_SIZE] for i in range(0, len(reply), DIGEST_SIZE)]


def _number(text: bytes) -> float | None:
    """A finite number written as text; None for anything else."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _client(url: str, timeout: float, *, retries: int) -> Any:
    """A client for *url*: a Redis server, the master Sentinel names, or a Cluster."""
    options: dict[str, Any] = {
        "decode_responses": False,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "socket_keepalive": True,
        "retry": Retry(NoBackoff(), retries),
    }
    if _is_cluster(url):
        hosts, _, _, credentials, tls = _many_hosts(url, names_master=False)
        nodes = [redis.cluster.ClusterNode(host, port) for host, port in hosts]  # type: ignore[no-untyped-call]
        cluster_options: dict[str, Any] = {"startup_nodes": nodes, "ssl": tls, **credentials, **options}
        return redis.cluster.RedisCluster(**cluster_options)
    if _is_sentinel(url):
        sentinels, master, db, credentials, tls = _many_hosts(url, names_master=True)
        sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            sentinels,
            sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout, "ssl": tls, **credentials},
            ssl=tls,
            **credentials,
        )
        return sentinel.master_for(master, db=db, **options)  # type: ignore[no-untyped-call]
    return redis.Redis.from_url(url, **options)


def _is_sentinel(url: str) -> bool:
    return url.lower().startswith(("redis+sentinel://", "rediss+sentinel://"))


def _is_cluster(url: str) -> bool:
    return url.lower().startswith(("redis+cluster://", "rediss+cluster://"))


def _many_hosts(url: str, *, names_master: bool) -> tuple[list[tuple[str, int]], str, int, dict[str, str], bool]:
    """``scheme://[user:password@]h:p,h:p/master/db`` -> hosts, master name, db, credentials, TLS.

    A Sentinel URL names the master and may name a database; a Cluster URL names
    neither (a Cluster has database 0 only).
    """
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts_text = netloc.rpartition("@")
    credentials: dict[str, str] = {}
    if at:
        user, _, password = userinfo.partition(":")
        if user:
            credentials["username"] = unquote(user)
        if password:
            credentials["password"] = unquote(password)
    hosts = []
    for host in hosts_text.split(","):
        name, colon, port = host.rpartition(":")
        if not colon or not name or not port.isdigit():
            raise ValueError("each Sentinel or Cluster node is host:port, separated by commas")
        hosts.append((name.strip("[]"), int(port)))
    master, _, db = path.partition("/")
    if names_master:
        if not master:
            raise ValueError("the path names the master: redis+sentinel://host:port/master-name/db")
        if db and not db.isdigit():
            raise ValueError("the database after the master name is a number")
    elif path.strip("/"):
        raise ValueError("a Cluster URL names its nodes only: redis+cluster://host:port,host:port")
    return hosts, unquote(master), int(db or 0), credentials, scheme.lower().startswith("rediss")


def _seconds(duration: float) -> int:
    """Return a TTL in whole seconds, at least one (Redis refuses EX 0)."""
    return max(1, math.ceil(duration))
