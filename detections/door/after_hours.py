"""A door opened outside its business hours."""

from __future__ import annotations

from socbot.core.events import Event, epoch
from socbot.detections.context import RuleContext
from socbot.detections.door._common import CONFIG, badge, person_of
from socbot.detections.rule import Case, Match, rule


@rule(
    id="door.after_hours",
    title="After-hours access at {door.name}",
    severity="medium",
    datasets=("door",),
    actions=("door_access",),
    mitre=("T1078",),
    runbook="Check with the person (overtime, a delivery) and the camera; a badge used at "
            "night by someone who never works late is worth a call.",
    dedup_by="door.badge_id",
    entity_type="badge",
    tests=(
        Case("03:00 in Berlin", fires=True, config=CONFIG,
             events=(badge(0, at="2026-11-23T02:00:00Z"),)),
        Case("10:00 in Berlin", fires=False, config=CONFIG,
             events=(badge(0, at="2026-11-23T09:00:00Z"),)),
        Case("a Saturday", fires=True, config=CONFIG,
             events=(badge(0, at="2026-11-28T10:00:00Z"),)),
        Case("a door with no hours configured", fires=False, config=CONFIG,
             events=(badge(0, door="side", at="2026-11-23T02:00:00Z"),)),
    ),
)
def after_hours(event: Event, ctx: RuleContext) -> Match | None:
    """A granted door access outside the door's ``hours`` and ``days`` in its time zone (the
    door's, else its site's); doors without hours are never after hours."""
    if event.get("event.outcome") != "success":
        return None
    door = ctx.doors.get(str(event.get("door.id", "")))
    if door is None:
        return None
    local = ctx.outside_hours(door, epoch(event))
    if local is None:
        return None
    person = person_of(event, ctx)
    name = person.name if person else event.get("user.name") or event.get("door.badge_id")
    return Match(title=f"After-hours access at {door.name or door.id} by {name} ({local})",
                 context={"door": door.name or door.id, "site": door.site, "local_time": local,
                          "hours": f"{door.hours} {','.join(door.days)}", "person": name})
