"""A sign-in from abroad or off-site while the same person badged in on site."""

from __future__ import annotations

from dataclasses import replace

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import ct
from socbot.detections.context import RuleContext
from socbot.detections.door._common import CONFIG as DOOR_CONFIG
from socbot.detections.door._common import badge
from socbot.detections.rule import Case, Join, Match, State, rule
from socbot.detections.secure._common import line

CONFIG = {"office_cidrs": ["192.0.2.0/24"],
          "detection": {**DOOR_CONFIG["detection"], "home_countries": ["DE", "US"],
                        "ip_locations": [{"cidr": "203.0.113.0/24", "country": "RU"}]}}


def _confirm(match: Match, state: State, ctx: RuleContext) -> Match | None:
    other = state.records[-1]
    badge_side = match.context if match.step == "badge" else other
    signin = other if match.step == "badge" else match.context
    person = match.context.get("person") or other.get("person")
    return replace(match, title=f"{person}: {signin.get('via')} sign-in {signin.get('reason')} "
                                f"while badged in at {badge_side.get('site')}",
                   context={**other, **match.context, "badge_site": badge_side.get("site"),
                            "badge_door": badge_side.get("door"),
                            "signin_ip": signin.get("ip"), "signin_via": signin.get("via"),
                            "signin_reason": signin.get("reason")})


@rule(
    id="correlation.remote_signin_while_on_site",
    title="Remote sign-in while badged in on site",
    severity="high",
    datasets=("door", "cloudtrail", "secure"),
    actions=("door_access", "ConsoleLogin", "ssh_login"),
    outcomes=("success",),
    mitre=("T1078",),
    runbook="The person is in the building, so the remote sign-in is probably someone else "
            "with their password or key. Call the person; disable the credentials used.",
    state=Join(within_s=4 * 3600, sides=("badge", "signin")),
    confirm=_confirm,
    entity_type="person",
    dedup_window_s=4 * 3600,
    playbooks=("disable-console-login", "block-ip-nacl"),
    tests=(
        Case("badge in Berlin, then SSH from abroad", fires=True, config=CONFIG, events=(
            badge(0, at="2026-11-23T09:00:00Z"),
            line(1, "ssh_login", "success", user="ann", ip="203.0.113.50",
                 fields={"@timestamp": "2026-11-23T09:10:00Z"}))),
        Case("console from abroad, then the badge (either order)", fires=True, config=CONFIG,
             events=(ct("ConsoleLogin", None, user="ann", ip="203.0.113.50",
                        response_elements={"ConsoleLogin": "Success"},
                        at="2026-11-23T08:30:00Z", source="signin.amazonaws.com"),
                     badge(0, at="2026-11-23T09:00:00Z"))),
        Case("SSH from the office", fires=False, config=CONFIG, events=(
            badge(0, at="2026-11-23T09:00:00Z"),
            line(1, "ssh_login", "success", user="ann", ip="192.0.2.9",
                 fields={"@timestamp": "2026-11-23T09:10:00Z"}))),
        Case("abroad but nobody badged in", fires=False, config=CONFIG, events=(
            line(1, "ssh_login", "success", user="ann", ip="203.0.113.50",
                 fields={"@timestamp": "2026-11-23T09:10:00Z"}),)),
    ),
)
def remote_signin_while_on_site(event: Event, ctx: RuleContext) -> Match | None:
    """A successful console or SSH sign-in from abroad (``detection.ip_locations`` outside
    ``detection.home_countries``) or from a public address outside the offices and sites,
    within 4 hours either side of a granted badge access by the same person (people are
    matched through ``detection.people``: badge ids, emails and account names)."""
    if event.get("event.outcome") != "success":
        return None
    dataset = event["event.dataset"]
    if dataset == "door":
        person = ctx.person(event.get("door.badge_id"), event.get("user.email"),
                            event.get("user.name"))
        if person is None:
            return None
        return Match(step="badge", key=ctx.person_key(person),
                     context={"person": person.name or person.email,
                              "site": event.get("door.site"), "door": event.get("door.name")})
    person = ctx.person(event.get("user.name"))
    if person is None:
        return None
    ip = event.get("source.ip")
    reason = ctx.remote_reason(ip)
    if reason is None:
        return None
    via = "console" if dataset == "cloudtrail" else f"SSH to {event.get('host.name', '?')}"
    return Match(step="signin", key=ctx.person_key(person),
                 entity={"type": "person", "value": ctx.person_key(person)},
                 context={"person": person.name or person.email, "ip": ip, "reason": reason,
                          "via": via, "source.ip": ip})
