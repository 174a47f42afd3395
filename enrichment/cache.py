"""A small JSON cache in Redis for enrichment answers, that never fails its caller.

Keys are ``{soc}:enrich:{source}:{key}`` (:func:`core.keys.enrichment`). A cache that cannot
reach Redis answers "not cached" and drops writes: enrichment is worth less than the alert it
decorates, so it must never stop one from being posted.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

from socbot.core import keys

log = logging.getLogger(__name__)


class Cache:
    """``get``/``put`` JSON values under a source name and a lookup key, with a TTL."""

    def __init__(self, client: redis.Redis | None) -> None:
        self.client = client

    # Long or odd lookup keys are hashed, so attacker-chosen text (a user name from a log)
    # never makes an unbounded key.
    key = staticmethod(keys.enrichment)

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
