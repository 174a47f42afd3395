"""A door forced or held open."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.door._common import badge
from socbot.detections.rule import Case, Match, rule


@rule(
    id="door.forced_or_held_open",
    title="Door {door.name} forced or held open",
    severity="high",
    datasets=("door",),
    actions=("door_forced_open", "door_held_open"),
    mitre=("T1200",),
    runbook="Forced: someone entered without a badge; check the camera now. Held open: "
            "tailgating or a propped door; send someone to close it.",
    dedup_by="door.id",
    entity_type="door",
    tests=(
        Case("forced", fires=True,
             events=(badge(0, action="door_forced_open", granted=None, badge_id=""),)),
        Case("held open is low", fires=True,
             events=(badge(0, action="door_held_open", granted=None, badge_id=""),)),
        Case("a normal access", fires=False, events=(badge(0),)),
    ),
)
def forced_or_held_open(event: Event) -> Match | None:
    """``door_forced_open`` (high) or ``door_held_open`` (low)."""
    action = event.get("event.action")
    if action not in ("door_forced_open", "door_held_open"):
        return None
    forced = action == "door_forced_open"
    door = event.get("door.name") or event.get("door.id")
    return Match(severity=None if forced else "low",
                 title=f"Door {door} at {event.get('door.site', '?')} "
                       + ("forced open" if forced else "held open"),
                 context={"door": door, "site": event.get("door.site")})
