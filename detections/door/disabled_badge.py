"""A badge of a disabled, suspended or departed person used."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.context import RuleContext
from socbot.detections.door._common import CONFIG, badge, person_of
from socbot.detections.rule import Case, Match, rule


@rule(
    id="door.disabled_badge",
    title="Badge of a disabled person used",
    severity="high",
    datasets=("door",),
    actions=("door_access",),
    mitre=("T1078",),
    runbook="The badge should have been collected or revoked. Revoke it in the access system "
            "now (if granted, send someone); find out who has it.",
    dedup_by="door.badge_id",
    entity_type="badge",
    tests=(
        Case("a terminated employee's badge granted", fires=True, config=CONFIG,
             events=(badge(0, badge_id="B666"),)),
        Case("an active employee", fires=False, config=CONFIG, events=(badge(0),)),
    ),
)
def disabled_badge(event: Event, ctx: RuleContext) -> Match | None:
    """A door access (granted: critical; denied: high) by a badge whose holder's status in
    ``detection.people`` is disabled, suspended or terminated."""
    person = person_of(event, ctx)
    if person is None or person.status == "active":
        return None
    granted = event.get("event.outcome") == "success"
    return Match(severity="critical" if granted else None,
                 title=f"Badge of {person.status} {person.name or person.email} "
                       + ("granted" if granted else "denied") + f" at {event.get('door.name')}",
                 context={"person": person.name or person.email, "status": person.status,
                          "door": event.get("door.name"), "site": event.get("door.site")})
