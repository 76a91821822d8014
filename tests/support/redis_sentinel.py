"""A real Redis master, its replica and one or three Sentinels on 127.0.0.1, with failovers on demand.

:func:`redis_sentinel` starts them in directories of their own, waits until
every Sentinel sees the replica (and the other Sentinels), yields a
:class:`SentinelSet` and stops everything whatever happens; if the body
raises, the servers' logs are printed so that pytest shows them.

The Sentinels are ``redis-server <conf> --sentinel`` (the same program as
``redis-sentinel``, which Debian ships in a package of its own), with fast
settings: a node is down after 1 s without answering, so that killing the
master ends in a failover within a few seconds.

The URL form, which the library is to parse::

    redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/0

that is the Sentinels' ``host:port`` separated by commas, then the master
name, then the database number.

.. code-block:: python

    with redis_sentinel(tmp_path, sentinels=3) as redis_set:
        store = RedisStore(redis_set.url)
        redis_set.failover()  # the replica is master now, the old master its replica
        redis_set.kill_master()  # and once more, the hard way

This module also holds what :mod:`tests.support.redis_cluster` shares:
:class:`RedisProcess` (one redis-server started from a config file),
:func:`data_node_config`, :func:`stop_all`, :func:`ask` (one command, no
retries) and :func:`wait_until` (a bounded wait that says what did not
happen).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .redis_server import free_port

__all__ = ["RedisProcess", "SentinelSet", "ask", "data_node_config", "redis_sentinel", "stop_all", "wait_until"]

HOST = "127.0.0.1"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
MASTER_NAME = "mymaster"
#: How long a Sentinel waits for an answer before it calls a node down.
DOWN_AFTER_MS = 1000
#: How long a failover may take before Sentinel gives it up; it starts no other within twice this.
FAILOVER_TIMEOUT_MS = 3000

T = TypeVar("T")


def data_node_config(port: int, directory: Path, *, replica_of: int | None = None) -> str:
    """The redis.conf of a master or replica that keeps nothing on disk and syncs replicas at once."""
    lines = [
        f"port {port}",
        f"bind {HOST}",
        "protected-mode no",
        "daemonize no",
        f"dir {_quoted(directory)}",
        'save ""',
        "appendonly no",
        # Full syncs (a new replica, an old master that rejoins) start now rather than after 5 s.
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
        # A master that is told to stop does not wait up to 10 s for a replica that may be gone.
        "shutdown-timeout 0",
        f"replica-announce-ip {HOST}",
    ]
    if replica_of is not None:
        lines.append(f"replicaof {HOST} {replica_of}")
    return "\n".join(lines) + "\n"


class RedisProcess:
    """One redis-server process (a data node or a Sentinel) run from a config file in its own directory.

    The config file is written on the first start only: Sentinel, and Redis
    itself after a failover, rewrite it, and a restart should find what they
    wrote.  The process's output goes to ``redis.log`` there.
    """

    def __init__(self, name: str, directory: Path, port: int, config: str, *, sentinel: bool = False) -> None:
        self.name = name
        self.directory = directory
        self.port = port
        self.config = config
        self.sentinel = sentinel
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def config_path(self) -> Path:
        return self.directory / ("sentinel.conf" if self.sentinel else "redis.conf")

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the process and return once it answers PING; raise RuntimeError with its log otherwise."""
        if not Path(REDIS_SERVER).exists():
            raise RuntimeError("redis-server is not installed (Debian package redis-server)")
        if not self.config_path.exists():
            self.config_path.write_text(self.config)
        argv = [REDIS_SERVER, str(self.config_path)] + (["--sentinel"] if self.sentinel else [])
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(
                f"{self.name} answering PING on port {self.port}",
                lambda: self.running and ask(self.port, "PING", timeout=0.5),
                timeout,
                stop_early=lambda: not self.running,
            )
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n{self.log_tail()}") from None

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and wait for it."""
        stop_all([self])

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), as a crash would, and wait for it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def command(self, *words: str | int, timeout: float = 1.0) -> Any:
        """Send one command and return the answer (see :func:`ask`)."""
        return ask(self.port, *words, timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The last *lines* lines of the process's log, under a heading naming it."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- {self.name} (port {self.port}) {self.log_path}\n{tail}"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisProcess {self.name} port {self.port} {state}>"


def stop_all(processes: Iterable[RedisProcess], timeout: float = 5.0) -> None:
    """Stop the processes side by side: SIGTERM to all, then SIGKILL to those still there after *timeout*."""
    running = []
    for node in processes:
        process, node._process = node._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            running.append(process)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ask(port: int, *words: str | int, timeout: float = 1.0) -> Any:
    """Send one command to 127.0.0.1:*port* on a new connection, with no retries, and return the answer.

    Answers are decoded to str and in RESP2 shapes (INFO as a dict, the rest
    as redis-py leaves them); a node that is down raises redis.ConnectionError.
    """
    with redis.Redis(
        host=HOST,
        port=port,
        decode_responses=True,
        protocol=2,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    ) as client:
        return client.execute_command(*words)


def wait_until(
    what: str,
    check: Callable[[], T],
    timeout: float,
    *,
    logs: Callable[[], str] | None = None,
    stop_early: Callable[[], bool] | None = None,
) -> T:
    """Poll *check* until it returns something true and return that; raise RuntimeError naming *what* otherwise.

    Redis errors and socket errors count as "not yet".  The error message has
    the last such error and, if *logs* is given, the servers' logs.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
        except (redis.RedisError, OSError) as exc:
            last_error = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline or (stop_early is not None and stop_early()):
            message = f"{what}: did not happen within {timeout} s"
            if last_error is not None:
                message += f" (last error: {last_error!r})"
            if logs is not None:
                message += "\n" + logs()
            raise RuntimeError(message)
        time.sleep(0.05)


class SentinelSet:
    """A master, one replica and the Sentinels that watch them, as started by :func:`redis_sentinel`.

    ``nodes`` are the two data nodes by port; after :meth:`kill_master` the
    old master's process is stopped, and ``nodes[port].start()`` brings it
    back (Sentinel then makes it a replica, within about 10 s).
    """

    def __init__(
        self, directory: Path, *, sentinels: int = 1, master_name: str = MASTER_NAME, quorum: int | None = None
    ) -> None:
        if sentinels < 1:
            raise ValueError("at least one Sentinel is needed")
        self.master_name = master_name
        self.quorum = quorum or sentinels // 2 + 1
        master_port, replica_port = _distinct_free_ports(2)
        master = RedisProcess(
            "master", directory / "master", master_port, data_node_config(master_port, directory / "master")
        )
        replica = RedisProcess(
            "replica",
            directory / "replica",
            replica_port,
            data_node_config(replica_port, directory / "replica", replica_of=master_port),
        )
        self.nodes: dict[int, RedisProcess] = {master_port: master, replica_port: replica}
        self.sentinels: list[RedisProcess] = []
        for index, port in enumerate(_distinct_free_ports(sentinels, avoid=self.nodes)):
            where = directory / f"sentinel-{index + 1}"
            config = self._sentinel_config(port, where, master_port)
            self.sentinels.append(RedisProcess(f"sentinel-{index + 1}", where, port, config, sentinel=True))

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [(HOST, sentinel.port) for sentinel in self.sentinels]

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:<port>,127.0.0.1:<port>/<master name>/0``."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinel_addresses)
        return f"redis+sentinel://{hosts}/{self.master_name}/{db}"

    def master_port(self) -> int:
        """The master's port as the first Sentinel that answers tells it."""
        for sentinel in self.sentinels:
            if sentinel.running:
                try:
                    return self._master_port_from(sentinel)
                except redis.RedisError:
                    continue
        raise RuntimeError(f"no Sentinel answers where {self.master_name} is\n{self.logs()}")

    def master_address(self) -> tuple[str, int]:
        return HOST, self.master_port()

    def replica_port(self) -> int:
        """The data node that is not the master now."""
        master = self.master_port()
        return next(port for port in self.nodes if port != master)

    def start(self, timeout: float = 15.0) -> None:
        """Start the master, then the replica, then the Sentinels, and wait until they all know each other."""
        master, replica = self.nodes.values()
        master.start()
        replica.start()
        wait_until(
            "the replica syncing from the master",
            lambda: replica.command("INFO", "replication").get("master_link_status") == "up",
            timeout,
            logs=self.logs,
        )
        for sentinel in self.sentinels:
            sentinel.start()
        self._wait_until_ready(master.port, replica.port, timeout)

    def failover(self, timeout: float = 10.0, *, demote_old_master: bool = True) -> int:
        """Have a Sentinel promote the replica (SENTINEL FAILOVER) and return the new master's port.

        Returns once every Sentinel has ended the failover and names the new
        master, and that node answers as master: about 1 s.  Sentinel itself
        turns the old master, still up, into a replica only about 10 s later
        (its INFO period), and meanwhile both take writes; unless
        *demote_old_master* is false, this does it now, as Sentinel would, and
        waits until it replicates the new master.
        """
        old = self.master_port()
        new = self.replica_port()
        self._wait_until_ready(old, new, timeout)
        sentinel = next(sentinel for sentinel in self.sentinels if sentinel.running)
        sentinel.command("SENTINEL", "FAILOVER", self.master_name)
        self._wait_for_master(new, timeout)
        if demote_old_master:
            self.nodes[old].command("REPLICAOF", HOST, new)
            self._wait_for_replica(old, new, timeout)
        return new

    def kill_master(self, timeout: float = 15.0) -> int:
        """Kill the master process (SIGKILL), wait until the Sentinels have promoted the replica, return its port.

        About 2 s; up to 6 s more right after another failover, since Sentinel
        starts none within twice the failover-timeout of the last one.
        """
        old = self.master_port()
        new = self.replica_port()
        self._wait_until_ready(old, new, timeout)
        self.nodes[old].kill()
        self._wait_for_master(new, timeout)
        return new

    def stop(self) -> None:
        """Stop the Sentinels first, so that they do not fail over while the nodes stop, then the nodes."""
        stop_all(self.sentinels)
        stop_all(self.nodes.values())

    def logs(self) -> str:
        """The end of every server's log."""
        return "\n".join(process.log_tail() for process in [*self.nodes.values(), *self.sentinels])

    def _sentinel_config(self, port: int, directory: Path, master_port: int) -> str:
        """sentinel.conf for a Sentinel on *port* watching the master, with fast failover."""
        name = self.master_name
        return (
            "\n".join(
                [
                    f"port {port}",
                    f"bind {HOST}",
                    "protected-mode no",
                    "daemonize no",
                    f"dir {_quoted(directory)}",
                    # What the Sentinel tells the others about itself, and so what they tell clients.
                    f"sentinel announce-ip {HOST}",
                    f"sentinel announce-port {port}",
                    f"sentinel monitor {name} {HOST} {master_port} {self.quorum}",
                    f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {name} 1",
                ]
            )
            + "\n"
        )

    def _master_port_from(self, sentinel: RedisProcess) -> int:
        """The master's port as *sentinel* tells it."""
        answer = sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name)
        if not answer:
            raise redis.ResponseError(f"{sentinel.name} does not know {self.master_name}")
        return int(answer[1])

    def _sentinel_ready(self, sentinel: RedisProcess, master: int, replica: int) -> bool:
        """Whether *sentinel* would promote *replica* of *master* now, and sees every other Sentinel.

        That takes the replica connected and not down, which its flags say;
        not that the Sentinel saw it replicate (master-link-status): after a
        failover it learns that from INFO only some 10 s later.
        """
        if int(_pairs(sentinel.command("SENTINEL", "MASTER", self.master_name))["port"]) != master:
            return False
        entries = [_pairs(entry) for entry in sentinel.command("SENTINEL", "REPLICAS", self.master_name)]
        replica_up = any(int(entry["port"]) == replica and entry["flags"] == "slave" for entry in entries)
        others = sentinel.command("SENTINEL", "SENTINELS", self.master_name)
        return replica_up and len(others) == len(self.sentinels) - 1

    def _wait_until_ready(self, master: int, replica: int, timeout: float) -> None:
        """Wait until every running Sentinel could fail over from *master* to *replica*."""
        wait_until(
            f"every Sentinel seeing the replica on port {replica} replicating port {master}, and the other Sentinels",
            lambda: all(self._sentinel_ready(s, master, replica) for s in self.sentinels if s.running),
            timeout,
            logs=self.logs,
        )

    def _wait_for_master(self, port: int, timeout: float) -> None:
        """Wait until every running Sentinel has ended its failover to *port*, and that node answers as master."""

        def done() -> bool:
            for sentinel in self.sentinels:
                if sentinel.running:
                    # get-master-addr-by-name names the promoted replica before the failover ends; this does not.
                    state = _pairs(sentinel.command("SENTINEL", "MASTER", self.master_name))
                    if int(state["port"]) != port or state["flags"] != "master":
                        return False
            return self.nodes[port].command("ROLE")[0] == "master"

        wait_until(f"every Sentinel ending its failover to port {port}", done, timeout, logs=self.logs)

    def _wait_for_replica(self, port: int, master: int, timeout: float) -> None:
        """Wait until the node on *port* replicates the node on *master*, with the link up."""

        def done() -> bool:
            info = self.nodes[port].command("INFO", "replication")
            return info.get("master_port") == master and info.get("master_link_status") == "up"

        wait_until(f"the node on port {port} replicating port {master}", done, timeout, logs=self.logs)


@contextmanager
def redis_sentinel(
    directory: Path, *, sentinels: int = 1, master_name: str = MASTER_NAME, quorum: int | None = None
) -> Iterator[SentinelSet]:
    """Start a master, its replica and *sentinels* Sentinels under *directory*; yield them; stop them all.

    *quorum* defaults to a majority of the Sentinels.  If the body raises, the
    servers' logs are printed before the error goes on.
    """
    redis_set = SentinelSet(directory, sentinels=sentinels, master_name=master_name, quorum=quorum)
    try:
        redis_set.start()  # its errors carry the logs already
        try:
            yield redis_set
        except Exception:
            print(redis_set.logs())
            raise
    finally:
        redis_set.stop()


def _distinct_free_ports(count: int, *, avoid: Iterable[int] = ()) -> list[int]:
    """*count* different free ports, none of them in *avoid*."""
    ports: list[int] = []
    taken = set(avoid)
    while len(ports) < count:
        port = free_port()
        if port not in taken:
            taken.add(port)
            ports.append(port)
    return ports


def _pairs(flat: list[Any] | dict[str, Any]) -> dict[str, Any]:
    """A Sentinel answer ``[key, value, key, value, ...]`` as a dict."""
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _quoted(path: Path) -> str:
    """*path* as a quoted redis.conf string."""
    text = str(path)
    if any(character in text for character in '"\\\n'):
        raise ValueError(f"a path redis.conf cannot quote simply: {text!r}")
    return f'"{text}"'
