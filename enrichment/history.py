"""Entity history: how often an IP, user or host appeared in the last 24 hours, and since when.

The enricher asks an :class:`EntityHistory` (a Protocol); :func:`default_history` adapts the
event store (``core/eventstore.py``) when it is installed and says "unavailable" otherwise.
"""

from __future__ import annotations

from typing import Any, Protocol

from enrichment.errors import SourceUnavailable

DAY_S = 24 * 3600


class EntityHistory(Protocol):
    """What the enricher needs to know about past events of one entity."""

    def history(self, field: str, value: str, since: float) -> dict[str, Any]:
        """``{"events_24h": int, "first_seen": float | None}`` for events whose ``field``
        (``source.ip``, ``user.name``, ``host.name``) equals ``value``."""
        ...


class NoHistory:
    """Used when no event store is wired in: every lookup says why there is no answer."""

    def history(self, field: str, value: str, since: float) -> dict[str, Any]:
        raise SourceUnavailable("no event store is configured, so there is no entity history")


def default_history(client: Any) -> EntityHistory:
    """The event store's history when ``core.eventstore`` exists, else :class:`NoHistory`."""
    try:
        from core import eventstore  # written beside this package; optional until wired
    except ImportError:
        return NoHistory()
    return EventStoreHistory(eventstore, client)


class EventStoreHistory:
    """Adapter from ``core.eventstore`` to :class:`EntityHistory`."""

    def __init__(self, module: Any, client: Any) -> None:
        self.module = module
        self.client = client

    def history(self, field: str, value: str, since: float) -> dict[str, Any]:
        raise SourceUnavailable("core.eventstore is present but not adapted yet")
