"""``socbot doctor``'s Redis check: the topology behind ``REDIS_URL``, each node's role, and
whether each node keeps its data (append-only file, snapshots).

One server is asked directly; for a Sentinel URL the sentinels are asked for the master and
its replicas; for a cluster, the cluster's node table. A node that cannot be reached, or one
without persistence, makes the check a warning that names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from socbot.core import redisurl

_TIMEOUTS = {"socket_connect_timeout": 3.0, "socket_timeout": 3.0}


@dataclass
class Node:
    """One Redis server as the doctor saw it."""

    address: str
    role: str = "?"
    version: str = "?"
    aof: bool = False
    rdb: bool | None = None  # None: CONFIG is disabled (managed Redis), so not known
    error: str = ""

    def describe(self) -> str:
        """``role address: Redis 7.2, AOF on, RDB off`` or the error."""
        if self.error:
            return f"{self.role} {self.address}: unreachable ({self.error})"
        rdb = "?" if self.rdb is None else "on" if self.rdb else "off"
        return (f"{self.role} {self.address}: Redis {self.version}, "
                f"AOF {'on' if self.aof else 'off'}, RDB {rdb}")

    @property
    def persistent(self) -> bool:
        """The node keeps its data across a restart (or it cannot be told: managed Redis)."""
        return self.aof or self.rdb is not False


def inspect(client: redis.Redis, address: str, role: str = "") -> Node:
    """Role, version and persistence of the server behind ``client``."""
    node = Node(address, role or "?")
    try:
        info = client.info()
    except redis.RedisError as exc:
        node.error = str(exc)
        return node
    node.role = role or ("replica" if info.get("role") == "slave" else str(info.get("role")))
    node.version = str(info.get("redis_version", "?"))
    node.aof = bool(int(info.get("aof_enabled", 0)))
    try:
        node.rdb = bool(str(client.config_get("save").get("save", "")).strip())
    except redis.RedisError:
        node.rdb = None
    return node


def survey(target: redisurl.Target) -> tuple[str, list[Node]]:
    """A one-line topology and the nodes behind ``target``; raises ``redis.RedisError`` when
    nothing answers (no server, no sentinel, no cluster node)."""
    if target.mode == "single":
        client = redisurl.client(target, **_TIMEOUTS)
        client.ping()
        where = redisurl.redact(target.url.split("?", 1)[0])
        return "single server", [inspect(client, where)]
    if target.mode == "sentinel":
        return _sentinel(target)
    cluster = redisurl.cluster_client(target, **_TIMEOUTS)
    try:
        nodes = []
        for node in sorted(cluster.get_nodes(), key=lambda n: (n.server_type != "primary",
                                                                n.name)):
            role = "master" if node.server_type == "primary" else "replica"
            nodes.append(inspect(cluster.get_redis_connection(node), node.name, role))
        masters = sum(n.role == "master" for n in nodes)
        return f"cluster of {masters} masters, {len(nodes) - masters} replicas", nodes
    finally:
        cluster.close()


def _sentinel(target: redisurl.Target) -> tuple[str, list[Node]]:
    answers = 0
    master: tuple[str, int] | None = None
    replicas: set[tuple[str, int]] = set()
    for sentinel in redisurl.sentinels(target, **_TIMEOUTS):
        try:
            found = sentinel.sentinel_get_master_addr_by_name(target.service)
            listed = sentinel.sentinel_slaves(target.service) if found else []
        except redis.RedisError:
            continue
        finally:
            sentinel.close()
        answers += 1
        if isinstance(found, (tuple, list)):
            master = (_text(found[0]), int(found[1]))
        replicas |= {(_text(r["ip"]), int(r["port"])) for r in listed}  # down ones too
    if not answers:
        raise redis.ConnectionError(f"none of the {len(target.hosts)} sentinels answered "
                                    f"about service {target.service!r}")
    if master is None:
        raise redis.ConnectionError(f"the sentinels know no master named {target.service!r}")
    nodes = []
    for (host, port), role in [(master, "master")] + [(r, "replica") for r in sorted(replicas)]:
        client = redisurl.node_client(target, host, port, **_TIMEOUTS)
        nodes.append(inspect(client, f"{host}:{port}", role))
        client.close()
    topology = (f"Sentinel service {target.service!r} ({answers} of {len(target.hosts)} "
                f"sentinels answered), {len(replicas)} replica(s)")
    return topology, nodes


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
