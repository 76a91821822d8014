"""The Redis store on a real Redis Cluster: three masters on 127.0.0.1, with a replica each where failovers are tested.

Revocations are spread over several hours, so that their hashes live in
different slots and so on different masters; each test checks that they do.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from redis.cluster import ClusterNode, RedisCluster

from logout_middleware.errors import StoreDeferredError
from logout_middleware.stores import redis as redis_module
from logout_middleware.stores.redis import SHARDS
from logout_middleware.stores.revocations import HOUR, expiry_hour
from tests.support.polling import eventually
from tests.support.redis_cluster import ClusterSet, redis_cluster
from tests.support.redis_server import RedisStores

pytestmark = pytest.mark.servers

ISS = "https://op.example"
HOURS = 8  # revocations end in this many different hours, so in as many hashes


def node_url(port: int) -> str:
    """A Cluster URL that names one node only: the store must find the others itself."""
    return f"redis+cluster://127.0.0.1:{port}"


def ends(index: int) -> float:
    """When revocation *index* ends: one of HOURS different hours from now."""
    return time.time() + 600 + (index % HOURS) * HOUR


def session_keys() -> list[str]:
    """Every key where the tests' session revocations may be: each hour's sets."""
    first = expiry_hour(time.time() + 600)
    return [
        f"logout:sessions:{first + offset * HOUR}:{shard}" for offset in range(HOURS + 1) for shard in range(SHARDS)
    ]


def cluster_client(cluster: ClusterSet) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port) for port in cluster.master_ports()])


def held_in_redis(cluster: ClusterSet) -> int:
    """How many session revocations the cluster holds, read with redis-py alone."""
    client = cluster_client(cluster)
    try:
        return sum(int(client.scard(key)) for key in session_keys())
    finally:
        client.close()


def masters_holding(cluster: ClusterSet) -> set[int]:
    client = cluster_client(cluster)
    try:
        return {cluster.master_for_key(key) for key in session_keys() if client.exists(key)}
    finally:
        client.close()


def test_revocations_written_through_one_node_reach_an_instance_started_from_another(
    tmp_path: Path, redis_stores: RedisStores
) -> None:
    with redis_cluster(tmp_path, replicas=0) as cluster:
        first, second = cluster.ports[0], cluster.ports[2]
        writer = redis_stores.open(node_url(first))
        reader = redis_stores.open(node_url(second))
        for index in range(300):
            writer.revoke_session(ISS, f"sid-{index}", expires_at=ends(index))
        for index in range(50):
            reader.revoke_subject(ISS, f"sub-{index}", revoked_at=time.time(), expires_at=ends(index))

        assert len(masters_holding(cluster)) == 3, "the revocations are not spread over the masters"
        assert eventually(lambda: len(reader.revocations) == 350 and len(writer.revocations) == 350, 2.0)
        assert all(reader.is_revoked(ISS, f"sid-{index}", None, None) for index in range(300))
        assert all(writer.is_revoked(ISS, None, f"sub-{index}", time.time() - 10) for index in range(50))
        assert not reader.is_revoked(ISS, "sid-never", None, None)

        newcomer = redis_stores.open(cluster.url)
        assert len(newcomer.revocations) == 350
        assert held_in_redis(cluster) == 300

        assert writer.check_and_remember_jti(ISS, "jti-1") is True
        assert reader.check_and_remember_jti(ISS, "jti-1") is False


def test_failovers_and_a_lost_set_lose_no_revocation(
    tmp_path: Path, redis_stores: RedisStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_module, "_AUDIT_EVERY", 0.5)
    with redis_cluster(tmp_path) as cluster:
        writer = redis_stores.open(cluster.url)
        reader = redis_stores.open(cluster.url)
        deferred = 0

        def revoke(indexes: range) -> None:
            nonlocal deferred
            for index in indexes:
                try:
                    writer.revoke_session(ISS, f"sid-{index}", expires_at=ends(index))
                except StoreDeferredError:
                    deferred += 1  # kept in the writer, sent when the cluster takes writes again

        revoke(range(100))
        assert len(masters_holding(cluster)) == 3

        # A clean handover: the replica of the master of the first hash takes over.
        cluster.fail_over_master(cluster.master_for_key(session_keys()[0]))
        revoke(range(100, 200))

        # A crash: writes made while the master is dead wait in the writer, and are sent once its replica leads.
        # Not the channel's master: the last step crashes that one, which must still have its replica then.
        channel_master = cluster.master_for_key("logout:revocations")
        crashed = next(port for port in map(cluster.master_for_key, session_keys()) if port != channel_master)
        cluster.kill_node(crashed, wait=False)
        revoke(range(200, 300))
        cluster.wait_until_ok(15.0)

        assert eventually(lambda: writer.pending == 0, 10.0), f"{writer.pending} revocations never reached Redis"
        assert eventually(lambda: held_in_redis(cluster) == 300, 5.0), f"Redis holds {held_in_redis(cluster)}"
        assert eventually(lambda: len(reader.revocations) == 300, 5.0), f"the reader knows {len(reader.revocations)}"

        # A set lost outright (a master that restarted empty): the instances write it back.
        client = cluster_client(cluster)
        try:
            lost = next(key for key in session_keys() if client.exists(key))
            held = int(client.scard(lost))
            client.delete(lost)
            assert eventually(lambda: int(client.scard(lost)) == held, 5.0), "the lost set was not written back"
        finally:
            client.close()

        assert len(redis_stores.open(cluster.url).revocations) == 300
        assert all(reader.is_revoked(ISS, f"sid-{index}", None, None) for index in range(300))
        print(f"{deferred} of 300 revocations were deferred during the failovers")

        # The master of the channel's slot, where the instances listen, crashes: they listen elsewhere.
        cluster.kill_node(cluster.master_for_key("logout:revocations"))
        revoke(range(300, 301))
        assert eventually(lambda: reader.is_revoked(ISS, "sid-300", None, None), 10.0)
