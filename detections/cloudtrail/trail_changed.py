"""CloudTrail trail changes: a trail created, updated, deleted, stopped, started or narrowed."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule

SEVERITY = {"StopLogging": "high", "DeleteTrail": "high", "PutEventSelectors": "high",
            "UpdateTrail": "medium", "CreateTrail": "low", "StartLogging": "low"}


def _narrows(event: Event) -> bool:
    """True if the new event selectors leave management or write events out."""
    selectors = params(event).get("eventSelectors") or []
    if params(event).get("advancedEventSelectors"):
        return True
    return any(isinstance(s, dict) and (s.get("includeManagementEvents") is False
                                        or s.get("readWriteType") == "ReadOnly")
               for s in selectors)


@rule(
    id="cloudtrail.trail_changed",
    title="CloudTrail trail changed: {event.action}",
    severity="medium",
    datasets=("cloudtrail",),
    actions=tuple(SEVERITY),
    mitre=("T1562.008",),
    runbook="Ask the actor why; if nobody expected it, restart logging with the button, restore "
            "the selectors and treat the actor's credentials as compromised.",
    playbooks=("restart-cloudtrail-logging",),
    tests=(
        Case("StopLogging", fires=True,
             events=(ct("StopLogging", {"name": "main"}, source="cloudtrail.amazonaws.com"),)),
        Case("selectors that drop management events", fires=True,
             events=(ct("PutEventSelectors", {"trailName": "main", "eventSelectors": [
                 {"readWriteType": "ReadOnly", "includeManagementEvents": False}]}),)),
        Case("selectors that keep everything", fires=False,
             events=(ct("PutEventSelectors", {"trailName": "main", "eventSelectors": [
                 {"readWriteType": "All", "includeManagementEvents": True}]}),)),
        Case("a refused StartLogging", fires=False,
             events=(ct("StartLogging", {"name": "x"}, error="TrailNotFoundException"),)),
    ),
)
def trail_changed(event: Event) -> Match | None:
    """Create/Update/DeleteTrail, StartLogging, StopLogging and PutEventSelectors (CIS 4.5).

    High for StopLogging, DeleteTrail and selectors that drop management or write events;
    an attempt that failed still counts for the high ones (the intent is the signal), medium
    if it failed; StartLogging and CreateTrail are low, and quiet when they failed.
    """
    action = event["event.action"]
    severity = SEVERITY[action]
    if action == "PutEventSelectors" and not _narrows(event):
        return None
    failed = event.get("event.outcome") == "failure"
    if failed and severity != "high":
        return None
    if failed:
        severity = "medium"
    request = params(event)
    trail = request.get("name") or request.get("trailName") or ""
    return Match(
        dedup=scope(event, trail), entity={"type": "trail", "value": str(trail)},
        severity=severity,
        title=f"CloudTrail {action} on {trail}" + (" (refused)" if failed else ""),
        context=aws_context(event, trail_name=trail),
        playbooks=("restart-cloudtrail-logging",) if action in ("StopLogging",) else (),
    )
