"""Read a Redis URL into what to connect to: one server, a Sentinel-managed master, or a Cluster.

The forms accepted (``REDIS_URL``)::

    redis://[[user]:password@]host[:port][/db][?option=value...]
    rediss://...                                     TLS; certificates below
    unix:///path/redis.sock[?db=N]
    redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db][?...]
    rediss+sentinel://...                            TLS to the sentinels and the servers
    redis+cluster://[[user]:password@]host:port[,host:port...][?...]   (or REDIS_CLUSTER=1)
    rediss+cluster://...

The password of a Sentinel URL is the servers' password; the sentinels' own is the
``sentinel_password`` option. TLS certificates come from the options ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile`` and ``ssl_cert_reqs`` (``required``, ``optional``, ``none``)
or, when the URL does not set them, from ``REDIS_TLS_CA_CERTS``, ``REDIS_TLS_CERTFILE`` and
``REDIS_TLS_KEYFILE``. Other options (``socket_timeout``, ``health_check_interval`` ...) are
redis-py's own, as in ``redis.Redis.from_url``.

Example::

    >>> target = parse("redis+sentinel://:pw@s1:26379,s2:26379/socbot/0", {})
    >>> target.mode, target.hosts, target.service, target.db
    ('sentinel', (('s1', 26379), ('s2', 26379)), 'socbot', 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import redis

Mode = Literal["single", "sentinel", "cluster"]

# The options a Redis URL may carry, with their types; anything else is refused by name.
_OPTIONS: dict[str, type] = {
    "db": int, "socket_timeout": float, "socket_connect_timeout": float,
    "socket_keepalive": bool, "health_check_interval": int, "max_connections": int,
    "retry_on_timeout": bool, "ssl_ca_certs": str, "ssl_certfile": str, "ssl_keyfile": str,
    "ssl_cert_reqs": str, "ssl_check_hostname": bool, "sentinel_password": str,
    "protocol": int, "client_name": str,
}
_TLS_ENV = {"ssl_ca_certs": "REDIS_TLS_CA_CERTS", "ssl_certfile": "REDIS_TLS_CERTFILE",
            "ssl_keyfile": "REDIS_TLS_KEYFILE"}
_FORMS = ("redis://HOST:PORT/DB, rediss://HOST:PORT/DB, unix:///PATH?db=N, "
          "redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE[/DB] or "
          "redis+cluster://HOST:PORT[,HOST:PORT...]")


class RedisUrlError(ValueError):
    """A Redis URL socbot cannot use; the message says what is wrong and the forms accepted."""


@dataclass(frozen=True)
class Target:
    """Where Redis is: the mode, the seed hosts (sentinels or cluster nodes) and the options."""

    mode: Mode
    url: str
    hosts: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = None
    options: dict[str, object] = field(default_factory=dict)


def parse(url: str, env: Mapping[str, str]) -> Target:
    """Read ``url``; ``REDIS_CLUSTER=1`` in ``env`` turns a ``redis(s)://`` URL into cluster mode.

    Raises :class:`RedisUrlError` naming the part to fix.
    """
    scheme, sep, _rest = url.partition("://")
    if not sep:
        raise RedisUrlError(f"REDIS_URL={redact(url)} has no scheme: use one of {_FORMS}")
    scheme = scheme.lower()
    known = {"redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster",
             "rediss+cluster"}
    if scheme not in known:
        raise RedisUrlError(f"REDIS_URL scheme {scheme}:// is not one socbot knows: use one of "
                            f"{_FORMS}")
    tls = scheme.startswith("rediss")
    mode: Mode = ("sentinel" if scheme.endswith("+sentinel") else
                  "cluster" if scheme.endswith("+cluster") else "single")
    if mode == "single" and env.get("REDIS_CLUSTER", "").strip().lower() in ("1", "true", "yes"):
        if scheme == "unix":
            raise RedisUrlError("REDIS_CLUSTER=1 needs a redis:// or rediss:// URL of a cluster "
                                "node, not a unix socket")
        mode = "cluster"
    parts = urlsplit(url)
    options = _options(parts.query, url)
    for option, variable in _TLS_ENV.items():
        if tls and option not in options and env.get(variable):
            options[option] = env[variable]
    if not tls and any(o.startswith("ssl_") for o in options):
        raise RedisUrlError(f"REDIS_URL={redact(url)} sets TLS options on a plain connection: "
                            "use rediss:// (or rediss+sentinel://, rediss+cluster://)")
    if scheme == "unix":
        return Target("single", url, db=int(str(options.pop("db", 0))), options=options)
    hosts = _hosts(parts.netloc.rpartition("@")[2], url, 26379 if mode == "sentinel" else 6379)
    username, password = _credentials(parts.netloc)
    path = [p for p in parts.path.split("/") if p]
    service, db = "", int(str(options.pop("db", 0)))
    if mode == "sentinel":
        if not path:
            raise RedisUrlError(f"REDIS_URL={redact(url)} names no service: add the master's "
                                "name as Sentinel knows it, redis+sentinel://HOST:PORT/mymaster")
        service, path = unquote(path[0]), path[1:]
    if path:
        if len(path) > 1 or not path[0].isdigit():
            raise RedisUrlError(f"REDIS_URL={redact(url)}: '/{'/'.join(path)}' is not a "
                                "database number (/0 ... /15)")
        db = int(path[0])
    if mode == "cluster" and db:
        raise RedisUrlError(f"REDIS_URL={redact(url)} selects database {db}: Redis Cluster "
                            "has only database 0")
    if mode == "single" and len(hosts) > 1:
        raise RedisUrlError(f"REDIS_URL={redact(url)} lists several hosts: use "
                            "redis+sentinel:// or redis+cluster:// for several servers")
    return Target(mode, url, hosts, service, db, tls, username, password, options)


def client(target: Target, **overrides: object) -> redis.Redis:
    """A client of one server, or of the master Sentinel names now (it follows a failover).

    ``overrides`` are connection options (``socket_timeout`` ...) that win over the URL's.
    A cluster target gives a :class:`redis.RedisCluster` (see :func:`cluster_client`).
    """
    options = {**target.options, **overrides}
    if target.mode == "single":
        client_: redis.Redis = redis.Redis.from_url(
            target.url.split("?", 1)[0], **_url_free(target, options))
        return client_
    if target.mode == "cluster":
        # RedisCluster takes the same command calls socbot makes on one server (each routed by
        # its key; every socbot key carries the {soc} hash tag, so a script or a transaction
        # lands on the one node that holds all its keys); the flow tests run on a real cluster.
        return cast(redis.Redis, cluster_client(target, **overrides))
    from redis.sentinel import Sentinel

    sentinel_password = options.pop("sentinel_password", None)
    server_options = _connection_options(target, options)
    sentinel_options = {k: v for k, v in server_options.items()
                        if k.startswith(("socket_", "ssl"))}
    if sentinel_password:
        sentinel_options["password"] = sentinel_password
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(target.hosts), sentinel_kwargs=sentinel_options, **server_options)
    master: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
        target.service, db=target.db)
    return master


def sentinels(target: Target, **overrides: object) -> list[redis.Redis]:
    """One client per sentinel of a Sentinel target (for ``socbot doctor``)."""
    options = {**target.options, **overrides}
    password = options.pop("sentinel_password", None)
    return [node_client(target, host, port, password=password, **overrides)
            for host, port in target.hosts]


def node_client(target: Target, host: str, port: int, **overrides: object) -> redis.Redis:
    """A client of one named server with the target's credentials and TLS settings."""
    options = _connection_options(target, {**target.options, **overrides})
    options.pop("sentinel_password", None)
    ssl = bool(options.pop("ssl", False))
    pool = redis.ConnectionPool(connection_class=redis.SSLConnection if ssl else
                                redis.Connection)
    pool.connection_kwargs.update(options, host=host, port=port)
    return redis.Redis(connection_pool=pool)


def cluster_client(target: Target, **overrides: object) -> redis.RedisCluster:
    """A Redis Cluster client seeded by the target's nodes (for ``socbot doctor``)."""
    from redis.cluster import ClusterNode

    options = _connection_options(target, {**target.options, **overrides})
    options.pop("sentinel_password", None)
    nodes = [ClusterNode(host, port)  # type: ignore[no-untyped-call]
             for host, port in target.hosts]
    return redis.RedisCluster(startup_nodes=nodes, **options)  # type: ignore[arg-type]


def _connection_options(target: Target, options: dict[str, object]) -> dict[str, object]:
    result = dict(options)
    result.pop("db", None)
    if target.username:
        result["username"] = target.username
    if target.password:
        result["password"] = target.password
    if target.tls:
        result["ssl"] = True
    return result


def _url_free(target: Target, options: dict[str, object]) -> dict[str, object]:
    """Options for ``from_url`` of the URL without its query (credentials stay in the URL)."""
    result = dict(options)
    result.pop("db", None)
    if target.db:
        result["db"] = target.db
    return result


def _options(query: str, url: str) -> dict[str, object]:
    options: dict[str, object] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        kind = _OPTIONS.get(name)
        if kind is None:
            raise RedisUrlError(f"REDIS_URL={redact(url)}: unknown option {name!r}; known: "
                                f"{', '.join(sorted(_OPTIONS))}")
        try:
            if kind is bool:
                options[name] = value.lower() in ("1", "true", "yes", "on")
            else:
                options[name] = kind(value)
        except ValueError:
            raise RedisUrlError(f"REDIS_URL={redact(url)}: option {name}={value!r} is not "
                                f"a {kind.__name__}") from None
    return options


def _hosts(netloc: str, url: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts = []
    for item in netloc.split(","):
        if not item:
            raise RedisUrlError(f"REDIS_URL={redact(url)} has an empty host: write "
                                "HOST:PORT[,HOST:PORT...]")
        if item.startswith("["):  # [IPv6]:port
            host, _, port = item[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        if not port:
            port = str(default_port)
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise RedisUrlError(f"REDIS_URL={redact(url)}: port {port!r} of {host or item!r} "
                                "is not a number from 1 to 65535")
        hosts.append((unquote(host), int(port)))
    return tuple(hosts)


def _credentials(netloc: str) -> tuple[str | None, str | None]:
    if "@" not in netloc:
        return None, None
    creds = netloc.rpartition("@")[0]
    user, sep, password = creds.partition(":")
    return (unquote(user) or None, unquote(password) if sep else None)


def redact(url: str) -> str:
    """Hide a password in a Redis URL before it goes into a message."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if user else f"{scheme}://***@{host}"
