"""An opt-in AWS region enabled: a place nobody watches yet."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.region_enabled",
    title="AWS region enabled",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("EnableRegion",),
    mitre=("T1535",),
    runbook="Resources in a new region escape monitoring set up per region. Confirm the "
            "business need; make sure trails, GuardDuty and Config cover the region.",
    tests=(
        Case("a region enabled", fires=True,
             events=(ct("EnableRegion", {"RegionName": "me-central-1"},
                        source="account.amazonaws.com"),)),
        Case("refused", fires=False,
             events=(ct("EnableRegion", {"RegionName": "me-central-1"},
                        source="account.amazonaws.com", error="AccessDeniedException"),)),
    ),
)
def region_enabled(event: Event) -> Match | None:
    """A successful EnableRegion (account.amazonaws.com)."""
    if event.get("event.outcome") != "success":
        return None
    request = params(event)
    region = str(request.get("RegionName") or request.get("regionName") or "?")
    return Match(dedup=scope(event, region), entity={"type": "aws_region", "value": region},
                 title=f"Region {region} enabled by {event.get('user.name', '?')}",
                 context=aws_context(event, enabled_region=region))
