"""One badge at two sites closer in time than travel allows."""

from __future__ import annotations

from dataclasses import replace

from socbot.core.events import Event
from socbot.detections.context import RuleContext, km_between
from socbot.detections.door._common import CONFIG, badge
from socbot.detections.rule import Case, Match, Recent, State, rule


def _confirm(match: Match, state: State, ctx: RuleContext) -> Match | None:
    here = ctx.site_coordinates(str(match.context.get("site")))
    if here is None:
        return None
    now = float(match.context["t"])
    for earlier in reversed(state.records):
        site = str(earlier.get("site"))
        there = ctx.site_coordinates(site)
        if site == match.context.get("site") or there is None:
            continue
        km = km_between(*there, *here)
        hours = max(now - float(earlier["t"]), 1.0) / 3600
        if km / hours > ctx.detection.max_travel_kmh:
            return replace(match, title=f"Badge {match.key} at {site} then "
                                        f"{match.context['site']} {hours * 60:.0f} min apart",
                           context={**match.context, "from_site": site,
                                    "km": round(km), "minutes": round(hours * 60),
                                    "kmh_needed": round(km / hours)})
    return None


@rule(
    id="door.impossible_travel",
    title="Badge used at two sites too far apart",
    severity="high",
    datasets=("door",),
    actions=("door_access",),
    mitre=("T1078",),
    runbook="One of the two uses is not the badge holder: a cloned or shared badge. Check "
            "both cameras and disable the badge until it is explained.",
    state=Recent(by="door.badge_id", within_s=86400),
    confirm=_confirm,
    entity_type="badge",
    dedup_by="door.badge_id",
    tests=(
        Case("Berlin then New York an hour later", fires=True, config=CONFIG, events=(
            badge(0, at="2026-11-23T09:00:00Z"),
            badge(1, door="nyc-lobby", site="nyc", at="2026-11-23T10:00:00Z"))),
        Case("Berlin then New York a day later", fires=False, config=CONFIG, events=(
            badge(0, at="2026-11-23T09:00:00Z"),
            badge(1, door="nyc-lobby", site="nyc", at="2026-11-24T12:00:00Z"))),
        Case("two doors at one site", fires=False, config=CONFIG, events=(
            badge(0, at="2026-11-23T09:00:00Z"), badge(1, at="2026-11-23T09:01:00Z"))),
    ),
)
def impossible_travel(event: Event, ctx: RuleContext) -> Match | None:
    """A granted access at a site after one at another site when the distance between the
    sites' coordinates over the time between would need more than ``detection.max_travel_kmh``
    (default 900 km/h, an airliner)."""
    site = event.get("door.site")
    if event.get("event.outcome") != "success" or not site:
        return None
    from socbot.core.events import epoch

    return Match(context={"site": site, "t": epoch(event), "door": event.get("door.name")})
