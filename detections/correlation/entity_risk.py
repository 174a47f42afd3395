"""Entity risk: signals of several rules about one person or address add up to one alert."""

from __future__ import annotations

from dataclasses import replace

from socbot.core.events import Event
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, Risk, State, rule

SKIP_USERS = ("", "?", "unknown", "root")
PERSON_TYPES = ("iam_user", "user", "person", "badge")  # entity types that name a person


def _signal(n: int, rule_id: str, severity: str, **fields: str) -> Event:
    return {"@timestamp": f"2026-11-23T03:{n:02d}:00Z", "event.id": f"{rule_id}:e{n}",
            "event.dataset": "signal", "event.action": rule_id, "event.outcome": "unknown",
            "signal.severity": severity, "signal.title": f"{rule_id} fired",
            "signal.entity.type": "ip", "signal.entity.value": fields.get("source.ip", ""),
            **fields}


def _confirm(match: Match, state: State, ctx: RuleContext) -> Match | None:
    kind, _, value = state.key.partition(":")
    rules = len(state.records)
    label = {"ip": "Address", "person": "Person", "user": "User"}.get(kind, kind)
    what = f"{rules} detections add up to" if rules else "more detections raise"
    return replace(match, entity={"type": kind, "value": value},
                   title=f"{label} {value}: {what} risk {state.count}")


@rule(
    id="correlation.entity_risk",
    title="Entity risk threshold crossed",
    severity="high",
    datasets=("signal",),
    actions=None,
    mitre=("TA0001",),
    runbook="Several independent detections point at one person or address. Read the listed "
            "signals together: that story is the incident; act on the strongest.",
    state=Risk(threshold=100, window_s=86400, min_rules=2),
    confirm=_confirm,
    dedup_window_s=86400,
    tests=(
        Case("two high signals from two rules about one address", fires=True, events=(
            _signal(0, "secure.ssh_brute_force", "high", **{"source.ip": "203.0.113.7"}),
            _signal(1, "secure.success_after_failures", "high",
                    **{"source.ip": "203.0.113.7"}))),
        Case("one rule firing again and again", fires=False, events=tuple(
            _signal(n, "secure.ssh_brute_force", "high", **{"source.ip": "203.0.113.7"})
            for n in range(5))),
        Case("two rules about two addresses", fires=False, events=(
            _signal(0, "secure.ssh_brute_force", "high", **{"source.ip": "203.0.113.7"}),
            _signal(1, "secure.root_login", "high", **{"source.ip": "203.0.113.8"}))),
    ),
)
def entity_risk(event: Event, ctx: RuleContext) -> Match | None:
    """Every signal adds its severity's points (info 1, low 10, medium 25, high 50,
    critical 100; each rule counts once, at its highest) to the person and the address it
    names; when one entity reaches ``detection.risk_threshold`` (default 100) within
    ``detection.risk_window_s`` (default 24 h) from at least two rules, one alert lists them.
    People are matched across sources through ``detection.people``."""
    # Written for speed (it runs on every signal of a storm): the address first, then each
    # name once, in order, as the keys of the risk state.
    keys: list[str] = []
    ip = event.get("source.ip")
    if isinstance(ip, str) and ip:
        keys.append(f"ip:{ip}")
    entity_name = (event.get("signal.entity.value")
                   if event.get("signal.entity.type") in PERSON_TYPES else None)
    for name in (event.get("iam_user"), event.get("user.name"), event.get("person"),
                 entity_name):
        if not isinstance(name, str) or name.casefold() in SKIP_USERS:
            continue
        person = ctx.person(name)
        key = f"person:{ctx.person_key(person)}" if person else f"user:{name.casefold()}"
        if key not in keys:
            keys.append(key)
    return Match(key=tuple(keys)) if keys else None
