"""A small JSON cache in Redis for enrichment answers, that never fails its caller.

Keys are ``soc:enrich:{source}:{key}``. A cache that cannot reach Redis answers "not cached"
and drops writes: enrichment is worth less than the alert it decorates, so it must never stop
one from being posted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis

log = logging.getLogger(__name__)

PREFIX = "soc:enrich"


class Cache:
    """``get``/``put`` JSON values under a source name and a lookup key, with a TTL."""

    def __init__(self, client: redis.Redis | None, prefix: str = PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    def key(self, source: str, lookup: str) -> str:
        """The Redis key of one answer. Long or odd lookup keys are hashed, so attacker-chosen
        text (a user name from a log) never makes an unbounded key."""
        if len(lookup) > 128 or not lookup.isprintable():
            lookup = "h:" + hashlib.sha256(lookup.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.prefix}:{source}:{lookup}"

    def get(self, source: str, lookup: str) -> Any | None:
        """The cached value, or None when absent, expired or unreadable."""
        if self.client is None:
            return None
        try:
            raw = self.client.get(self.key(source, lookup))
        except redis.RedisError as exc:
            log.warning("enrichment cache unavailable: %s", exc)
            return None
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def put(self, source: str, lookup: str, value: Any, ttl_s: int) -> None:
        """Store ``value`` for ``ttl_s`` seconds (0: do not store)."""
        if self.client is None or ttl_s <= 0:
            return
        try:
            self.client.set(self.key(source, lookup), json.dumps(value, default=str), ex=ttl_s)
        except redis.RedisError as exc:
            log.warning("enrichment cache unavailable: %s", exc)
