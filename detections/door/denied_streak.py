"""One badge refused again and again."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.door._common import badge
from socbot.detections.rule import Case, Match, Threshold, rule


@rule(
    id="door.denied_streak",
    title="Badge {door.badge_id} denied repeatedly at {door.site}",
    severity="medium",
    datasets=("door",),
    actions=("door_access",),
    mitre=("T1078",),
    runbook="A lost, cloned or revoked badge being tried at doors. Check the camera at the "
            "door and who holds the badge.",
    state=Threshold(by="door.badge_id", count=4, window_s=600),
    entity_type="badge",
    tests=(
        Case("four denials in ten minutes", fires=True,
             events=tuple(badge(n, granted=False, at=f"2026-11-23T09:0{n}:00Z")
                          for n in range(4))),
        Case("three denials", fires=False,
             events=tuple(badge(n, granted=False, at=f"2026-11-23T09:0{n}:00Z")
                          for n in range(3))),
        Case("grants do not count", fires=False,
             events=tuple(badge(n, at=f"2026-11-23T09:0{n}:00Z") for n in range(5))),
    ),
)
def denied_streak(event: Event) -> Match | bool:
    """At least 4 denied door accesses for one badge within 10 minutes, at any doors."""
    if event.get("event.outcome") != "failure" or not event.get("door.badge_id"):
        return False
    return Match(context={"door": event.get("door.name") or event.get("door.id"),
                          "reason": event.get("door.reason"), "person": event.get("user.name")})
