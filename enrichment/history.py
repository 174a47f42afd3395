"""Entity history: how often an IP, user or host appeared in the last 24 hours, and since when.

The enricher asks an :class:`EntityHistory` (a Protocol). :class:`EventStoreHistory` answers
from the recent-event store (``socbot.core.eventstore``), whose per-value index streams have
entry ids that are ingest times: the count since a time is an id range, and the first entry is
the first time the value was seen within the store's retention (72 h by default), which the
answer says.
"""

from __future__ import annotations

from typing import Any, Protocol

import redis

from socbot.core.streams import entries
from socbot.enrichment.errors import SourceUnavailable

DAY_S = 24 * 3600
COUNT_CAP = 10_000  # counting stops here: "10000 or more" is all an analyst needs
_KINDS = {"source.ip": "ip", "user.name": "user", "host.name": "host"}


class EntityHistory(Protocol):
    """What the enricher needs to know about past events of one entity."""

    def history(self, field: str, value: str, since: float) -> dict[str, Any]:
        """``{"events_24h": int, "first_seen": float | None, ...}`` for events whose ``field``
        (``source.ip``, ``user.name``, ``host.name``) equals ``value``."""
        ...


class NoHistory:
    """Used when no event store is wired in: every lookup says why there is no answer."""

    def history(self, field: str, value: str, since: float) -> dict[str, Any]:
        raise SourceUnavailable("no event store is configured, so there is no entity history")


class EventStoreHistory:
    """Entity history from the event store's index streams (``{soc}:es:ix:{kind}:{value}``)."""

    def __init__(self, client: redis.Redis, retention_s: int = 72 * 3600) -> None:
        self.client = client
        self.retention_s = retention_s

    def history(self, field: str, value: str, since: float) -> dict[str, Any]:
        from socbot.core.eventstore import EventStore, normalize

        kind = _KINDS.get(field)
        normal = normalize(kind, value) if kind else None
        if normal is None:
            raise SourceUnavailable(f"the event store does not index {field} values like this")
        key = EventStore.index_key(kind or "", normal)
        try:
            first = entries(self.client.xrange(key, min="-", max="+", count=1))
            count, start = 0, f"{int(since * 1000)}-0"
            while count < COUNT_CAP:
                page = entries(self.client.xrange(key, min=start, max="+", count=1000))
                count += len(page)
                if len(page) < 1000:
                    break
                start = "(" + page[-1][0]
        except redis.RedisError as exc:
            raise SourceUnavailable(f"event store unreachable: {exc}") from exc
        first_seen = int(first[0][0].split("-")[0]) / 1000 if first else None
        return {"events_24h": min(count, COUNT_CAP), "capped": count >= COUNT_CAP,
                "first_seen": first_seen, "window_h": self.retention_s // 3600}


def default_history(client: redis.Redis | None, retention_s: int = 72 * 3600) -> EntityHistory:
    """The event store's history when there is a Redis client and ``socbot.core.eventstore``."""
    if client is None:
        return NoHistory()
    try:
        import socbot.core.eventstore  # noqa: F401
    except ImportError:
        return NoHistory()
    return EventStoreHistory(client, retention_s)
