"""Shared pieces of the door rules: the person behind a badge event, and test events shaped
as the door collectors write them."""

from __future__ import annotations

from typing import Any

from socbot.core.config import DetectionPerson
from socbot.core.events import Event
from socbot.detections.context import RuleContext

SITES = {"hq": {"timezone": "Europe/Berlin", "country": "DE", "lat": 52.52, "lon": 13.405,
                "wifi_subnets": ["10.50.0.0/16"]},
         "nyc": {"timezone": "America/New_York", "country": "US", "lat": 40.71, "lon": -74.0,
                 "wifi_subnets": ["10.60.0.0/16"]}}
DOORS = [{"id": "hq-front", "site": "hq", "name": "HQ front door", "hours": "07:00-19:00"},
         {"id": "nyc-lobby", "site": "nyc", "name": "NYC lobby", "hours": "06:00-22:00"}]
PEOPLE = [{"email": "ann@example.com", "name": "Ann Smith", "badge_ids": ["B100"],
           "accounts": ["ann", "ann.smith"]},
          {"email": "ex@example.com", "name": "Ex Employee", "badge_ids": ["B666"],
           "accounts": ["ex"], "status": "terminated"}]
CONFIG = {"detection": {"sites": SITES, "doors": DOORS, "people": PEOPLE}}


def person_of(event: Event, ctx: RuleContext) -> DetectionPerson | None:
    """The badge holder of a door event: by badge id, then email, then vendor name."""
    return ctx.person(event.get("door.badge_id"), event.get("user.email"),
                      event.get("user.name"))


def badge(n: int, *, action: str = "door_access", granted: bool | None = True,
          badge_id: str = "B100", door: str = "hq-front", site: str = "hq",
          at: str = "2026-11-23T09:00:00Z", **fields: Any) -> Event:
    """A door event (UTC ``at``; 09:00Z is 10:00 in Berlin, a Monday)."""
    outcome = "unknown" if granted is None else "success" if granted else "failure"
    event: Event = {
        "@timestamp": at, "event.id": f"door-{door}-{badge_id}-{n}", "event.dataset": "door",
        "event.action": action, "event.outcome": outcome, "door.site": site, "door.id": door,
        "door.name": door, "door.badge_id": badge_id, "observer.vendor": "unifi",
    }
    if granted is not None:
        event["door.result"] = "granted" if granted else "denied"
    event.update(fields)
    return event
