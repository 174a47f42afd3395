"""Writes confirmed on replicas before socbot acts on them (``SOCBOT_REDIS_WAIT_REPLICAS``).

Redis replicates asynchronously: a write the master acknowledged can be lost when the master
dies before a replica has it and Sentinel promotes that replica. For most of socbot's state
that costs a repeat (a worker redelivery, a Slack post of that second). Two writes must not
be lost: a collector's batch (its file position has moved on, so nothing would re-read the
lines) and an approval (the click was answered, its one-shot token spent), with the start
of its run. With ``SOCBOT_REDIS_WAIT_REPLICAS=N`` those writes are followed by ``WAIT N
timeout`` on the same connection (on Redis Cluster, the connection to the node that holds
the keys' slot); a collector keeps a batch in its spool until ``N`` replicas
hold it (re-sending is idempotent), an approval the replicas did not confirm is logged, and a
run whose start they did not confirm is not run now (its entry is tried again). ``0`` (the default):
no WAIT, for a single Redis.

Example::

    result, confirmed = write(script, client, keys, args, *wanted())
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import redis
from redis.commands.core import Script

WAIT_REPLICAS_ENV = "SOCBOT_REDIS_WAIT_REPLICAS"
WAIT_MS_ENV = "SOCBOT_REDIS_WAIT_MS"


class Unconfirmed(redis.RedisError):
    """A write the replicas did not confirm in time; the caller takes it back or retries."""


def wanted(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(replicas, timeout_ms)`` from the environment; ``(0, 0)`` means do not wait."""
    env = os.environ if env is None else env
    try:
        replicas = int(env.get(WAIT_REPLICAS_ENV, "0") or 0)
        timeout_ms = int(env.get(WAIT_MS_ENV, "1000") or 1000)
    except ValueError:
        raise ValueError(f"{WAIT_REPLICAS_ENV} and {WAIT_MS_ENV} must be whole numbers "
                         "(replicas, milliseconds)") from None
    if replicas < 0 or timeout_ms < 1:
        raise ValueError(f"{WAIT_REPLICAS_ENV} must be 0 or more and {WAIT_MS_ENV} 1 or more")
    return replicas, timeout_ms


def write(script: Script, client: redis.Redis, keys: list[str],
          args: Sequence[str | int | float],
          replicas: int, timeout_ms: int) -> tuple[object, bool]:
    """Run ``script``; with ``replicas``, follow it with WAIT on the same connection (one
    round trip more). Return its result and whether ``replicas`` replicas hold the write."""
    if not replicas:
        return script(keys=keys, args=args), True
    if isinstance(client, redis.RedisCluster):
        return _write_on_node(script, client, keys, args, replicas, timeout_ms)
    return _write_and_wait(script, client, keys, args, replicas, timeout_ms)


def _write_and_wait(script: Script, client: redis.Redis, keys: list[str],
                    args: Sequence[str | int | float],
                    replicas: int, timeout_ms: int) -> tuple[object, bool]:
    pipe = client.pipeline(transaction=False)
    script(keys=keys, args=args, client=pipe)
    pipe.wait(replicas, timeout_ms)
    result, acknowledged = pipe.execute()
    return result, int(acknowledged) >= replicas


def _write_on_node(script: Script, cluster: redis.RedisCluster, keys: list[str],
                   args: Sequence[str | int | float],
                   replicas: int, timeout_ms: int) -> tuple[object, bool]:
    """WAIT counts the writes of its own connection, so on Redis Cluster it follows the script
    on the connection that ran it: the node holding the keys' slot, through that node's own
    client. That bypasses the cluster client's redirect handling, so a node that is gone or
    no longer holds the slot makes the client relearn the layout, and the write is reported
    as Redis being away (the caller spools it or tries again)."""
    node = cluster.get_node_from_key(keys[0])  # type: ignore[no-untyped-call]
    try:
        return _write_and_wait(script, cluster.get_redis_connection(node), keys, args,
                               replicas, timeout_ms)
    except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.MovedError,
            redis.exceptions.AskError, redis.exceptions.ClusterDownError,
            redis.exceptions.TryAgainError) as exc:
        try:
            cluster.nodes_manager.initialize()
        except (redis.RedisError, redis.exceptions.RedisClusterException):
            pass  # the cluster is still failing over: the next try relearns it
        raise redis.ConnectionError(f"node {node.name} did not take the write: {exc}") from exc
