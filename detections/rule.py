"""How a detection rule is written, and the registry that holds them.

A rule is one module under ``detections/<source>/``: a pure function of the normalized event,
decorated with its metadata and its own test events. It does no I/O; the engine keeps any
state (windows) in Redis and hands the rule only the event. Example::

    from detections.rule import Match, Threshold, rule

    @rule(
        id="secure.ssh_brute_force",
        title="SSH brute force from {source.ip}",
        severity="high",
        datasets=("secure",),
        actions=("ssh_login", "ssh_invalid_user"),
        mitre=("T1110.001",),
        threshold=Threshold(by="source.ip", count=8, window_s=120),
        tests=(Case("eight failures", fires=True, events=(...)),),
    )
    def ssh_brute_force(event: Event) -> Match | bool:
        return event.get("event.outcome") == "failure" and "source.ip" in event

The function returns ``False``/``None`` (no match), ``True`` (match, defaults from metadata) or a
:class:`Match` that sets the dedup key, entity, context, severity or playbooks for this event.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.alerts import SEVERITIES
from core.events import Event


@dataclass(frozen=True)
class Threshold:
    """Fire only once ``count`` matching events share the value of ``by`` within ``window_s``.

    The window runs on event time, so replaying last month's logs fires as it would have live.
    """

    by: str
    count: int
    window_s: int


@dataclass(frozen=True)
class Match:
    """What a rule says about one matching event; every field is optional."""

    dedup: str | None = None
    entity: Mapping[str, str] | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    severity: str | None = None
    title: str | None = None
    playbooks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Case:
    """A rule's own test: the events, in order, and whether the last one fires."""

    name: str
    fires: bool
    events: tuple[Event, ...]


RuleFunction = Callable[[Event], "Match | bool | None"]


@dataclass(frozen=True)
class Rule:
    """A registered rule: its function and metadata."""

    id: str
    title: str
    severity: str
    datasets: tuple[str, ...]
    function: RuleFunction
    actions: tuple[str, ...] | None = None
    mitre: tuple[str, ...] = ()
    runbook: str = ""
    dedup_window_s: int = 3600
    dedup_by: str | None = None
    entity_type: str = ""
    threshold: Threshold | None = None
    playbooks: tuple[str, ...] = ()
    tests: tuple[Case, ...] = ()
    description: str = ""

    def with_overrides(self, severity: str | None, params: Mapping[str, Any]) -> Rule:
        """This rule with the config's severity and threshold overrides applied."""
        rule = self if severity is None else replace(self, severity=severity)
        if self.threshold and params:
            known = {"count", "window_s"}
            unknown = set(params) - known
            if unknown:
                raise ValueError(f"rule {self.id}: unknown params {sorted(unknown)}; "
                                 f"this rule takes {sorted(known)}")
            rule = replace(rule, threshold=replace(self.threshold, **params))
        elif params:
            raise ValueError(f"rule {self.id} takes no params")
        return rule


REGISTRY: dict[str, Rule] = {}


def rule(*, id: str, title: str, severity: str, datasets: tuple[str, ...],
         actions: tuple[str, ...] | None = None, mitre: tuple[str, ...] = (),
         runbook: str = "", dedup_window_s: int = 3600, dedup_by: str | None = None,
         entity_type: str = "", threshold: Threshold | None = None,
         playbooks: tuple[str, ...] = (), tests: tuple[Case, ...] = ()
         ) -> Callable[[RuleFunction], RuleFunction]:
    """Register the decorated function as a rule (see the module docstring)."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: severity {severity!r} is not one of {SEVERITIES}")

    def register(function: RuleFunction) -> RuleFunction:
        if id in REGISTRY and REGISTRY[id].function.__module__ != function.__module__:
            raise ValueError(f"rule id {id!r} is registered twice")
        REGISTRY[id] = Rule(
            id=id, title=title, severity=severity, datasets=datasets, function=function,
            actions=actions, mitre=mitre, runbook=runbook, dedup_window_s=dedup_window_s,
            dedup_by=dedup_by, entity_type=entity_type, threshold=threshold,
            playbooks=playbooks, tests=tests, description=(function.__doc__ or "").strip(),
        )
        return function

    return register


def load_all() -> dict[str, Rule]:
    """Import every rule module under ``detections`` and return the registry."""
    import detections

    # Rules live one level down (detections/<source>/<rule>.py); the engine's own modules
    # sit at the top and are not imported here.
    for module in pkgutil.walk_packages(detections.__path__, "detections."):
        if module.name.count(".") >= 2 and not module.ispkg:
            importlib.import_module(module.name)
    return REGISTRY


def render(template: str, event: Event) -> str:
    """Fill ``{field.name}`` placeholders from the event; a missing field reads ``?``."""
    out: list[str] = []
    rest = template
    while "{" in rest and "}" in rest:
        before, _, tail = rest.partition("{")
        name, _, rest = tail.partition("}")
        out.append(before)
        value = event.get(name)
        out.append("?" if value in (None, "") else str(value))
    out.append(rest)
    return "".join(out)
