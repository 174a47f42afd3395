"""One person signing in (console or SSH) from two places closer in time than travel allows."""

from __future__ import annotations

from dataclasses import replace

from socbot.core.events import Event, epoch
from socbot.detections.cloudtrail._common import ct
from socbot.detections.context import RuleContext, km_between
from socbot.detections.rule import Case, Match, RawRecord, Recent, State, rule
from socbot.detections.secure._common import line

CONFIG = {"detection": {"ip_locations": [
    {"cidr": "198.51.100.0/24", "country": "DE", "lat": 52.52, "lon": 13.40},
    {"cidr": "203.0.113.0/24", "country": "SG", "lat": 1.35, "lon": 103.82}]}}
_OK = {"ConsoleLogin": "Success"}


def _console(ip: str, at: str) -> RawRecord:
    return ct("ConsoleLogin", None, user="ann", ip=ip, at=at, response_elements=_OK,
              source="signin.amazonaws.com", eventType="AwsConsoleSignIn")


def _ssh(ip: str, minute: int) -> Event:
    return line(minute, "ssh_login", "success", user="ann", ip=ip, second=minute * 60)


def _confirm(match: Match, state: State, ctx: RuleContext) -> Match | None:
    now = float(match.context["t"])
    for earlier in reversed(state.records):
        if earlier.get("lat") is None or earlier.get("place") == match.context.get("place"):
            continue
        km = km_between(float(earlier["lat"]), float(earlier["lon"]),
                        float(match.context["lat"]), float(match.context["lon"]))
        hours = max(now - float(earlier["t"]), 60.0) / 3600
        if km / hours > ctx.detection.max_travel_kmh:
            return replace(match, title=f"{match.key}: sign-in from {earlier.get('place')} then "
                                        f"{match.context.get('place')} {hours * 60:.0f} min "
                                        f"apart ({km:.0f} km)",
                           context={**match.context, "from_ip": earlier.get("ip"),
                                    "from_place": earlier.get("place"), "km": round(km),
                                    "minutes": round(hours * 60),
                                    "kmh_needed": round(km / hours)})
    return None


@rule(
    id="correlation.impossible_travel_signin",
    title="Sign-ins from places too far apart",
    severity="high",
    datasets=("cloudtrail", "secure"),
    actions=("ConsoleLogin", "ssh_login"),
    outcomes=("success",),
    mitre=("T1078",),
    runbook="One of the two sign-ins is probably not the person: stolen password or key. Ask "
            "them which one was theirs; disable the credentials used from the other place.",
    state=Recent(by="user.name", within_s=86400),
    confirm=_confirm,
    entity_type="person",
    dedup_window_s=86400,
    playbooks=("disable-console-login", "block-ip-nacl"),
    tests=(
        Case("console in Berlin, SSH from Singapore half an hour later", fires=True,
             config=CONFIG, events=(_console("198.51.100.7", "2026-11-23T03:00:00Z"),
                                    _ssh("203.0.113.9", 30))),
        Case("Berlin then Singapore a day apart", fires=False, config=CONFIG,
             events=(_console("198.51.100.7", "2026-11-22T02:00:00Z"),
                     _ssh("203.0.113.9", 30))),
        Case("two sign-ins from one place", fires=False, config=CONFIG,
             events=(_ssh("198.51.100.7", 0), _ssh("198.51.100.9", 5))),
        Case("addresses without a configured location", fires=False,
             events=(_ssh("198.51.100.7", 0), _ssh("203.0.113.9", 5))),
    ),
)
def impossible_travel_signin(event: Event, ctx: RuleContext) -> Match | None:
    """A successful console or SSH sign-in after another by the same person (people matched
    through ``detection.people``, else the account name) from a place whose distance over the
    time between would need more than ``detection.max_travel_kmh`` (default 900). Places come
    from ``detection.ip_locations`` and site subnets that carry coordinates; addresses without
    one are skipped."""
    if event.get("event.outcome") != "success":
        return None
    ip = event.get("source.ip")
    place = ctx.where(ip)
    if not place or place.get("lat") is None or place.get("lon") is None:
        return None
    name = event.get("user.name")
    if not isinstance(name, str) or not name:
        return None
    person = ctx.person(name)
    key = ctx.person_key(person) if person else name.casefold()
    where = str(place.get("site") or place.get("country") or ip)
    return Match(key=key, entity={"type": "person", "value": key},
                 context={"ip": ip, "place": where, "lat": place["lat"], "lon": place["lon"],
                          "via": event["event.action"], "t": epoch(event),
                          "source.ip": ip})
