"""Test events for the secure rules, shaped as ``collectors/secure.py`` writes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socbot.core.events import Event


def line(n: int, action: str, outcome: str, *, ip: str | None = "203.0.113.7",
         user: str = "root", host: str = "web1", second: int | None = None,
         fields: Mapping[str, Any] | None = None) -> Event:
    """One parsed auth-log event ``second`` seconds after 03:00:00 (default ``n``); ``fields``
    adds or replaces event fields (ECS names such as ``system.auth.sudo.error``)."""
    second = n if second is None else second
    event: Event = {
        "@timestamp": f"2026-11-23T03:{second // 60:02d}:{second % 60:02d}Z",
        "event.id": f"{action}-{ip}-{user}-{n}", "event.dataset": "secure",
        "event.action": action, "event.outcome": outcome, "user.name": user, "host.name": host,
    }
    if ip:
        event["source.ip"] = ip
    event.update(fields or {})
    return event
