"""The fault-staging helpers in tests/support work for real: the TCP proxy, Sentinel and Cluster setups."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from tests.support.redis_cluster import redis_cluster
from tests.support.redis_sentinel import MASTER_NAME, redis_sentinel
from tests.support.redis_server import RedisServer, free_port, redis_server
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

HOST = "127.0.0.1"
PING = b"PING\r\n"
PONG = b"+PONG\r\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as started:
        yield started


@pytest.fixture
def proxy(server: RedisServer) -> Iterator[TcpProxy]:
    with tcp_proxy(HOST, server.port) as started:
        yield started
        assert started.errors == [], "the proxy thread hit errors"


def connect(proxy: TcpProxy) -> socket.socket:
    """A plain socket to the proxy that gives up reading after half a second."""
    return socket.create_connection(proxy.address, timeout=0.5)


def read_line(sock: socket.socket) -> bytes:
    """Read one RESP line (the proxy may deliver it in pieces)."""
    answer = b""
    while not answer.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {answer!r}")
        answer += chunk
    return answer


def ping_once(proxy: TcpProxy) -> bytes:
    """PING on a new connection; the proxy may reset it before connect() returns, or after."""
    with connect(proxy) as sock:
        sock.sendall(PING)
        return read_line(sock)


def no_retry_client(url: str) -> redis.Redis:
    """A client on one connection that neither retries nor reconnects, so that it shows every fault."""
    return redis.Redis.from_url(url, socket_timeout=0.5, retry=Retry(NoBackoff(), 0), single_connection_client=True)


# -- the TCP proxy


def test_the_proxy_forwards_redis_commands_both_ways(proxy: TcpProxy) -> None:
    with redis.Redis.from_url(proxy.url_for_redis(), socket_timeout=2) as client:
        assert client.ping()
        # Larger than the proxy's buffer, so that it has to stop and go in both directions.
        value = b"x" * (3 * 1024 * 1024)
        assert client.set("big", value)
        assert client.get("big") == value


def test_pause_holds_the_bytes_on_open_connections_and_resume_delivers_them(proxy: TcpProxy) -> None:
    with connect(proxy) as sock:
        sock.sendall(PING)
        assert read_line(sock) == PONG
        proxy.pause()
        sock.sendall(PING)
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        assert proxy.connection_count == 1, "pause() closed the connection"
        proxy.resume()
        assert read_line(sock) == PONG, "the PING held back was not delivered on resume"
        sock.sendall(PING)
        assert read_line(sock) == PONG


def test_a_redis_client_times_out_while_paused_and_works_after_resume(proxy: TcpProxy) -> None:
    with redis.Redis.from_url(proxy.url_for_redis(), socket_timeout=0.5) as client:
        assert client.ping()
        proxy.pause()
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.ping()
        assert time.monotonic() - started < 3, "the client did not give up after its socket timeout"
        proxy.resume()
        assert client.ping()


def test_connections_made_while_paused_wait_and_are_served_after_resume(proxy: TcpProxy) -> None:
    proxy.pause()
    with connect(proxy) as sock:
        sock.sendall(PING)
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        proxy.resume()
        assert read_line(sock) == PONG


def test_cut_resets_every_connection_and_later_ones_are_served(proxy: TcpProxy) -> None:
    with connect(proxy) as sock, no_retry_client(proxy.url_for_redis()) as client:
        assert client.ping()
        sock.sendall(PING)
        assert read_line(sock) == PONG
        proxy.cut()
        with pytest.raises(ConnectionResetError):
            sock.recv(4096)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        assert proxy.connection_count == 0
    with redis.Redis.from_url(proxy.url_for_redis(), socket_timeout=2) as client:
        assert client.ping()


def test_close_returns_at_once_while_paused_and_leaves_no_thread(server: RedisServer) -> None:
    proxy = TcpProxy(HOST, server.port)
    with connect(proxy) as sock:
        sock.sendall(PING)
        assert read_line(sock) == PONG
        proxy.pause()
        sock.sendall(PING)
        started = time.monotonic()
        proxy.close()
        assert time.monotonic() - started < 1
        # An end of stream, or a reset since the proxy never read the last PING.
        try:
            last = sock.recv(4096)
        except ConnectionResetError:
            last = b""
        assert last == b"", "the client was not told that the proxy went away"
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("tcp-proxy-")]
    with pytest.raises(RuntimeError, match="not running"):
        proxy.pause()


def test_a_target_that_is_down_costs_the_client_its_connection_not_the_proxy() -> None:
    with tcp_proxy(HOST, free_port()) as proxy:
        for _ in range(3):
            with pytest.raises(ConnectionError):
                ping_once(proxy)
        assert proxy.errors == []
        assert proxy.connection_count == 0


# -- Sentinel


@contextmanager
def sentinel_client(addresses: list[tuple[str, int]]) -> Iterator[Sentinel]:
    """redis-py's Sentinel with its connections closed afterwards (older redis-py has no Sentinel.close())."""
    sentinel = Sentinel(addresses, socket_timeout=1)
    try:
        yield sentinel
    finally:
        for client in sentinel.sentinels:
            client.close()


def test_sentinel_fails_over_to_the_replica_and_keeps_what_was_replicated(tmp_path: Path) -> None:
    with redis_sentinel(tmp_path, sentinels=3) as redis_set:
        old_master = redis_set.master_port()
        old_replica = redis_set.replica_port()
        sentinels = ",".join(f"{host}:{port}" for host, port in redis_set.sentinel_addresses)
        assert redis_set.url == f"redis+sentinel://{sentinels}/{MASTER_NAME}/0"
        with sentinel_client(redis_set.sentinel_addresses) as sentinel:
            assert sentinel.discover_master(MASTER_NAME) == (HOST, old_master)
        with redis.Redis(host=HOST, port=old_master, socket_timeout=2) as master:
            master.set("revoked", "sid-1")
            assert master.wait(1, 1000) == 1, "the write did not reach the replica"

        new_master = redis_set.failover()

        assert new_master == old_replica
        assert redis_set.master_port() == new_master
        with redis.Redis(host=HOST, port=new_master, socket_timeout=2) as master:
            assert master.get("revoked") == b"sid-1"
        with redis.Redis(host=HOST, port=old_master, socket_timeout=2) as old:
            assert old.execute_command("ROLE")[0] == b"slave", "the old master was not made a replica"
        with sentinel_client(redis_set.sentinel_addresses) as sentinel:
            assert sentinel.discover_master(MASTER_NAME) == (HOST, new_master)
            with sentinel.master_for(MASTER_NAME, socket_timeout=2) as client:
                assert client.get("revoked") == b"sid-1"


def test_sentinel_promotes_the_replica_when_the_master_is_killed(tmp_path: Path) -> None:
    with redis_sentinel(tmp_path) as redis_set:
        old_master = redis_set.master_port()
        with redis.Redis(host=HOST, port=old_master, socket_timeout=2) as master:
            master.set("revoked", "sid-2")
            assert master.wait(1, 1000) == 1, "the write did not reach the replica"
        old_replica = redis_set.replica_port()

        new_master = redis_set.kill_master()

        assert new_master == old_replica
        assert not redis_set.nodes[old_master].running
        with redis.Redis(host=HOST, port=new_master, socket_timeout=2) as master:
            assert master.get("revoked") == b"sid-2"
            assert master.set("revoked-later", "sid-3"), "the new master does not take writes"


# -- Cluster


def cluster_client(ports: list[int]) -> RedisCluster:
    """redis-py's cluster client starting from *ports*."""
    return RedisCluster(startup_nodes=[ClusterNode(HOST, port) for port in ports], socket_timeout=2)


def test_cluster_serves_a_key_written_on_one_node_through_another(tmp_path: Path) -> None:
    with redis_cluster(tmp_path, replicas=0) as cluster:
        assert len(cluster.master_ports()) == 3
        assert cluster.url == "redis+cluster://" + ",".join(f"{HOST}:{port}" for port in cluster.ports)
        owner = cluster.master_for_key("revoked")
        with redis.Redis(host=HOST, port=owner, socket_timeout=2) as node:
            node.set("revoked", "sid-1")
        others = [port for port in cluster.ports if port != owner]
        with cluster_client(others[:1]) as client:
            assert client.get("revoked") == b"sid-1"
        with RedisCluster.from_url(cluster.redis_url, socket_timeout=2) as client:
            assert client.get("revoked") == b"sid-1"


def test_cluster_keeps_a_key_through_a_manual_failover_and_a_killed_master(tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as cluster, cluster_client(cluster.ports) as client:
        assert len(cluster.ports) == 6
        assert len(cluster.master_ports()) == 3
        owner = cluster.master_for_key("revoked")
        replica = cluster.replica_of(owner)
        assert replica is not None, f"the master on port {owner} has no replica"
        with redis.Redis(host=HOST, port=owner, socket_timeout=2) as node:
            node.set("revoked", "sid-1")
            assert node.wait(1, 1000) == 1, "the write did not reach the replica"
        assert client.get("revoked") == b"sid-1"

        assert cluster.fail_over_master(owner) == replica
        assert cluster.master_for_key("revoked") == replica
        assert cluster.replica_of(replica) == owner, "the old master does not follow the new one"
        assert client.get("revoked") == b"sid-1"

        # And back, the hard way: the old master, a replica now, takes over when the new one dies.
        assert cluster.kill_node(replica) == owner
        assert cluster.master_for_key("revoked") == owner
        assert client.get("revoked") == b"sid-1"
