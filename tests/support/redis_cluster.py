"""A real Redis Cluster on 127.0.0.1: three masters and, by default, one replica each, with failovers on demand.

:func:`redis_cluster` starts the nodes (``redis-server --cluster-enabled
yes``) on free ports whose cluster bus port, the port + 10000, is free too,
joins them with ``redis-cli --cluster create``, waits until every node says
``cluster_state:ok`` and every replica has synced, yields a
:class:`ClusterSet` and stops every node whatever happens; if the body
raises, the nodes' logs are printed so that pytest shows them.

The URL form, which the library is to parse::

    redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002

that is the nodes to start from, ``host:port`` separated by commas, and no
database: a cluster has only database 0.  redis-py takes one node instead,
:attr:`ClusterSet.redis_url` (``redis://127.0.0.1:7000``) for
``RedisCluster.from_url``, or :attr:`ClusterSet.startup_nodes`.

.. code-block:: python

    with redis_cluster(tmp_path) as cluster:
        store = RedisStore(cluster.url)
        port = cluster.master_for_key("some-key")
        cluster.fail_over_master(port)  # its replica takes over, the old master follows it
        cluster.kill_node(cluster.master_for_key("some-key"))  # and again, by a crash
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .redis_sentinel import HOST, RedisProcess, data_node_config, stop_all, wait_until
from .redis_server import free_port

__all__ = ["ClusterSet", "NodeView", "redis_cluster"]

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
#: How long a node may be silent before the others count it failing: also how fast a killed master is replaced.
NODE_TIMEOUT_MS = 1000
#: Where the cluster bus of a node listens, relative to its port (Redis's fixed rule).
BUS_OFFSET = 10000
#: How long a replica's election stands before it may start another (Redis: 4 x the node timeout), and some.
ELECTION_RETRY_S = 4 * NODE_TIMEOUT_MS / 1000 + 0.5
#: How long a manual failover may take before Redis gives it up (CLUSTER_MF_TIMEOUT), and some.
MANUAL_FAILOVER_TIMEOUT_S = 5.5
MASTERS = 3
SLOTS = 16384


@dataclass(frozen=True)
class NodeView:
    """One node as another sees it: a line of CLUSTER NODES."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    slots: tuple[str, ...]

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})


class ClusterSet:
    """The nodes of a Redis Cluster started by :func:`redis_cluster`, by port.

    Which node is a replica of which is up to ``redis-cli --cluster create``;
    ask :meth:`master_ports` and :meth:`replica_of` rather than guessing.
    A node stopped by :meth:`kill_node` comes back with ``nodes[port].start()``.
    """

    def __init__(self, directory: Path, *, replicas: int = 1) -> None:
        if replicas not in (0, 1):
            raise ValueError("replicas must be 0 or 1")
        self.replicas = replicas
        self.ports = _cluster_ports(MASTERS * (1 + replicas))
        self.nodes: dict[int, RedisProcess] = {}
        for port in self.ports:
            where = directory / f"node-{port}"
            self.nodes[port] = RedisProcess(f"node-{port}", where, port, _node_config(port, where))
        self._directory = directory
        self._elected_at: dict[int, float] = {}  # when a replica last won an election, by port

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(HOST, port) for port in self.ports]

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:<port>,127.0.0.1:<port>,...``: every node, no database."""
        return "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in self.startup_nodes)

    @property
    def redis_url(self) -> str:
        """The first node as redis-py's ``RedisCluster.from_url`` takes it (no database: it refuses one)."""
        return f"redis://{HOST}:{self.ports[0]}"

    def start(self, timeout: float = 30.0) -> None:
        """Start every node, join them into a cluster and wait until it is whole."""
        if not Path(REDIS_CLI).exists():
            raise RuntimeError("redis-cli is not installed (Debian package redis-tools)")
        for node in self.nodes.values():
            node.start()
        create = [REDIS_CLI, "--cluster", "create", *(f"{HOST}:{port}" for port in self.ports)]
        create += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        log = self._directory / "cluster-create.log"
        with log.open("wb") as output:
            try:
                result = subprocess.run(create, stdout=output, stderr=subprocess.STDOUT, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"redis-cli --cluster create took over {timeout} s\n{self.logs()}") from None
        if result.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed ({result.returncode})\n{self.logs()}")
        self.wait_until_ok(timeout)

    def master_ports(self) -> list[int]:
        """The ports of the masters that serve slots now, as a running node sees them."""
        return sorted(node.port for node in self.cluster_nodes() if node.is_master and node.slots)

    def replica_of(self, master_port: int) -> int | None:
        """The port of a replica of the master on *master_port*, or None."""
        nodes = self.cluster_nodes()
        master = next((node for node in nodes if node.port == master_port), None)
        if master is None:
            raise RuntimeError(f"no cluster node on port {master_port}")
        replicas = [node.port for node in nodes if node.master_id == master.node_id and not node.failing]
        return replicas[0] if replicas else None

    def master_for_key(self, key: str) -> int:
        """The port of the master that serves *key* now."""
        slot = self._any_running_node().command("CLUSTER", "KEYSLOT", key)
        for entry in self._any_running_node().command("CLUSTER", "SLOTS"):
            first, last, master = entry[0], entry[1], entry[2]
            if first <= slot <= last:
                return int(master[1])
        raise RuntimeError(f"no master serves slot {slot}\n{self.logs()}")

    def fail_over_master(self, port: int, timeout: float = 15.0) -> int:
        """Have the replica of the master on *port* take over (CLUSTER FAILOVER) and return the replica's port.

        Returns once the replica answers as master, the old master as its
        replica, and every node sees the new master and says the cluster is ok:
        well under 1 s, but up to 4.5 s more if that replica was elected less
        than 4.5 s ago (see ELECTION_RETRY_S).
        """
        replica = self.replica_of(port)
        if replica is None:
            raise RuntimeError(f"the master on port {port} has no replica to fail over to")
        # Redis 7.0: a replica asked again before its last election expired "wins" on the stale votes,
        # without a new epoch, and loses at once to the old master; so let that election expire first.
        time.sleep(max(0.0, self._elected_at.get(replica, -ELECTION_RETRY_S) + ELECTION_RETRY_S - time.monotonic()))
        asked = [0.0]

        def taken_over() -> bool:
            if self._role(replica) == "master" and self._role(port) == "slave":
                return True
            if time.monotonic() - asked[0] > MANUAL_FAILOVER_TIMEOUT_S:  # none yet, or the last one timed out
                self.nodes[replica].command("CLUSTER", "FAILOVER")
                asked[0] = time.monotonic()
            return False

        what = f"the replica on port {replica} taking over from the master on port {port}"
        wait_until(what, taken_over, timeout, logs=self.logs)
        self._elected_at[replica] = time.monotonic()
        self.wait_until_ok(timeout, masters={replica})
        return replica

    def kill_node(self, port: int, timeout: float = 15.0, *, wait: bool = True) -> int | None:
        """Kill the node on *port* (SIGKILL), as a crash would.

        If it was a master with a replica and *wait* is true, wait until the
        replica has taken over and the cluster is ok again, and return the
        replica's port; otherwise return None at once.
        """
        was_master = port in self.master_ports()
        replica = self.replica_of(port) if was_master else None
        self.nodes[port].kill()
        if replica is None or not wait:
            return None
        wait_until(
            f"the replica on port {replica} taking over from the killed master on port {port}",
            lambda: self._role(replica) == "master",
            timeout,
            logs=self.logs,
        )
        self._elected_at[replica] = time.monotonic()
        self.wait_until_ok(timeout, masters={replica})
        return replica

    def wait_until_ok(self, timeout: float = 15.0, *, masters: Iterable[int] = ()) -> None:
        """Wait until every running node says cluster_state:ok, all agree on who replicates whom, and replicas synced.

        *masters* are ports that every node must see as masters already (after a failover).
        """

        def whole() -> bool:
            running = [port for port, node in self.nodes.items() if node.running]
            views = {port: {node.port: node for node in self.cluster_nodes(port)} for port in running}
            # What each node says of itself; every other node must have heard it.
            claims = {port: (views[port][port].is_master, views[port][port].master_id) for port in running}
            for port in running:
                if self.nodes[port].command("CLUSTER", "INFO").find("cluster_state:ok") < 0:
                    return False
                seen = views[port]
                if any(other not in seen or seen[other].failing for other in running):
                    return False
                if any((seen[other].is_master, seen[other].master_id) != claims[other] for other in running):
                    return False
                if any(not seen[master].is_master for master in masters):
                    return False
                served = sum(_slot_count(node.slots) for node in seen.values() if node.is_master and not node.failing)
                if served != SLOTS:
                    return False
            return all(self._replica_synced(port) for port in running)

        wait_until("every running cluster node saying the cluster is ok", whole, timeout, logs=self.logs)

    def cluster_nodes(self, port: int | None = None) -> list[NodeView]:
        """CLUSTER NODES as the node on *port* (or any running node) sees it."""
        node = self.nodes[port] if port is not None else self._any_running_node()
        answer = node.command("CLUSTER", "NODES")
        text = answer if isinstance(answer, str) else "\n".join(answer)
        return [_parse_node_line(line) for line in text.splitlines() if line.strip()]

    def stop(self) -> None:
        """Stop every node, side by side."""
        stop_all(self.nodes.values())

    def logs(self) -> str:
        """The end of every node's log, and redis-cli's output."""
        parts = [node.log_tail() for node in self.nodes.values()]
        create = self._directory / "cluster-create.log"
        if create.exists():
            parts.append(f"--- redis-cli --cluster create\n{create.read_text(errors='replace')}")
        return "\n".join(parts)

    def _any_running_node(self) -> RedisProcess:
        """A node whose process runs; RuntimeError if none."""
        for node in self.nodes.values():
            if node.running:
                return node
        raise RuntimeError("no cluster node is running")

    def _role(self, port: int) -> str:
        """What the node on *port* says it is: master or slave."""
        role: str = self.nodes[port].command("ROLE")[0]
        return role

    def _replica_synced(self, port: int) -> bool:
        """Whether the node on *port* is a master, or a replica whose link to its master is up."""
        info = self.nodes[port].command("INFO", "replication")
        return info.get("role") == "master" or info.get("master_link_status") == "up"


@contextmanager
def redis_cluster(directory: Path, *, replicas: int = 1) -> Iterator[ClusterSet]:
    """Start a cluster of three masters with *replicas* (0 or 1) replicas each under *directory*; stop it after.

    If the body raises, the nodes' logs are printed before the error goes on.
    """
    cluster = ClusterSet(directory, replicas=replicas)
    try:
        cluster.start()  # its errors carry the logs already
        try:
            yield cluster
        except Exception:
            print(cluster.logs())
            raise
    finally:
        cluster.stop()


def _node_config(port: int, directory: Path) -> str:
    """redis.conf of a cluster node: a data node with cluster mode on and quick failure detection."""
    lines = [
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",  # relative to dir: one per node
        f"cluster-node-timeout {NODE_TIMEOUT_MS}",
        f"cluster-announce-ip {HOST}",
        # A replica may take over however long ago it last heard from its master.
        "cluster-replica-validity-factor 0",
    ]
    return data_node_config(port, directory) + "\n".join(lines) + "\n"


def _cluster_ports(count: int) -> list[int]:
    """*count* different free ports whose bus port (port + 10000) is free too."""
    ports: list[int] = []
    for _ in range(1000):
        port = free_port()
        bus = port + BUS_OFFSET
        taken = {*ports, *(p + BUS_OFFSET for p in ports)}
        if bus <= 65535 and port not in taken and bus not in taken and _is_free(bus):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"found no {count} free ports with free bus ports")


def _is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:*port* and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _parse_node_line(line: str) -> NodeView:
    """A NodeView from one line of CLUSTER NODES (``id ip:port@bus flags master ... slots``)."""
    fields = line.split()
    address = fields[1].split("@", 1)[0]
    port = int(address.rsplit(":", 1)[1]) if ":" in address else 0
    master_id = None if fields[3] == "-" else fields[3]
    return NodeView(fields[0], port, frozenset(fields[2].split(",")), master_id, tuple(fields[8:]))


def _slot_count(slots: tuple[str, ...]) -> int:
    """How many slots a CLUSTER NODES slot list covers (ranges ``a-b`` and single slots; migrations skipped)."""
    count = 0
    for entry in slots:
        if entry.startswith("["):
            continue
        first, _, last = entry.partition("-")
        count += int(last or first) - int(first) + 1
    return count
