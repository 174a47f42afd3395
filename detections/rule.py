"""How a detection rule is written, and the registry that holds them.

A rule is one module under ``detections/<source>/``: a pure function of the normalized event
(and, if it takes a second argument, the :class:`~detections.context.RuleContext` built from the
configuration), decorated with its metadata and its own test events. It does no I/O. A rule that
needs memory declares it with ``state=``; the engine keeps that state in Redis, shared by every
worker, and decides from it. Example::

    from socbot.detections.rule import Case, Threshold, rule

    @rule(
        id="secure.ssh_brute_force",
        title="SSH brute force from {source.ip}",
        severity="high",
        datasets=("secure",),
        actions=("ssh_login", "ssh_invalid_user"),
        mitre=("T1110.001",),
        runbook="Check whether any login from this address succeeded ...",
        state=Threshold(by="source.ip", count=8, window_s=120),
        entity_type="ip",
        tests=(Case("eight failures from one address across hosts within 120 s", fires=True,
                    events=tuple(_failure(n) for n in range(8))), ...),
    )
    def ssh_brute_force(event: Event) -> bool:
        return event.get("event.outcome") == "failure" and bool(event.get("source.ip"))

The function returns ``False``/``None`` (no match), ``True`` (match, defaults from metadata) or a
:class:`Match` that sets the dedup key, entity, context, severity or playbooks for this event,
and for stateful rules the state key (``key``), the value counted (``value``), the step of a
sequence or join (``step``) or how many events the event stands for (``weight``: a Threshold
counts ``message repeated 5 times`` five times).

The engine calls a rule only on events of its ``datasets`` and, when given, its ``actions`` and
``outcomes`` (``event.outcome`` values: a rule about accepted logins declares
``outcomes=("success",)`` and is never called on the failures of a brute-force storm). The
function still checks what it needs; the declarations only spare the calls that cannot match
(``tests/test_rule_dispatch.py`` holds every rule to that on its own cases).

State a rule can declare (all on event time, so a replay of last month fires as live did); each
kind is one class in ``detections/state/`` with its Redis step beside it in a ``.lua`` file:

:class:`Threshold`  ``count`` matching events for one key within ``window_s``.
:class:`Distinct`   ``count`` distinct values of a field for one key within ``window_s``.
:class:`FirstSeen`  a value never seen before for one key (``require_history``: and the key
                    has been seen before, so a brand-new user is not "new" everywhere).
:class:`Sequence`   B after at least ``count`` A events for one key within ``within_s``; the
                    function marks A events with ``Match(step="first")``.
:class:`Join`       two sides (often two sources) that meet on one key within ``within_s`` of
                    each other, in either order; ``Match(step=<side>, key=<entity>)``.
:class:`Recent`     the earlier matching events of one key within ``within_s``, handed to the
                    rule's ``confirm`` function (impossible travel).
:class:`Risk`       signals of other rules about one entity whose scores add up to a threshold.

A stateful rule may also give ``confirm(match, state, ctx) -> Match | None``: it sees what the
engine found (:class:`State`) and makes the final call, still without I/O.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from socbot.core.alerts import SEVERITIES
from socbot.core.events import OUTCOMES, Event

# The state kinds the rules of this package declare (each is one module of detections.state).
from socbot.detections.state.base import State, StateKind, quick_init
from socbot.detections.state.distinct import Distinct
from socbot.detections.state.first_seen import FirstSeen
from socbot.detections.state.join import Join
from socbot.detections.state.recent import Recent
from socbot.detections.state.risk import Risk
from socbot.detections.state.sequence import Sequence
from socbot.detections.state.threshold import Threshold

__all__ = ["Case", "ConfirmFunction", "Distinct", "FirstSeen", "Join", "Match", "Recent",
           "Risk", "Rule", "RuleFunction", "Sequence", "State", "StateKind", "Threshold",
           "load_all", "render", "rule"]


@quick_init
@dataclass(frozen=True)
class Match:
    """What a rule says about one matching event; every field is optional."""

    dedup: str | None = None
    entity: Mapping[str, str] | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    severity: str | None = None
    title: str | None = None
    playbooks: tuple[str, ...] | None = None
    key: str | tuple[str, ...] | None = None
    value: str | tuple[str, ...] | None = None
    step: str | None = None
    # How many events this one stands for (a log line "repeated N times"); Threshold counts
    # it that many times (at most WEIGHT_MAX).
    weight: int | None = None


@dataclass(frozen=True)
class RawRecord:
    """A record in a rule's test case as its source delivers it (a CloudTrail record, say).

    Rules never import collectors: the rule test runner (``socbot rules test``) normalizes a
    raw record with the collector of its ``dataset`` before the engine sees it, so a case reads
    like the log it came from and goes through the same normalizer as production.
    """

    dataset: str
    record: Mapping[str, Any]


@dataclass(frozen=True)
class Case:
    """A rule's own test: the events, in order, and whether the last one fires.

    An event is either already normalized or a :class:`RawRecord` that the test runner
    normalizes. ``config`` is the configuration (as in the YAML file) the case runs with.
    """

    name: str
    fires: bool
    events: tuple[Event | RawRecord, ...]
    config: Mapping[str, Any] = field(default_factory=dict)


RuleFunction = Callable[..., "Match | bool | None"]
ConfirmFunction = Callable[..., "Match | None"]


@dataclass(frozen=True)
class Rule:
    """A registered rule: its function and metadata."""

    id: str
    title: str
    severity: str
    datasets: tuple[str, ...]
    function: RuleFunction
    actions: tuple[str, ...] | None = None
    # The event outcomes the function can match (None: any); the engine calls it on no other.
    outcomes: tuple[str, ...] | None = None
    mitre: tuple[str, ...] = ()
    runbook: str = ""
    dedup_window_s: int = 3600
    dedup_by: str | None = None
    entity_type: str = ""
    playbooks: tuple[str, ...] = ()
    tests: tuple[Case, ...] = ()
    description: str = ""
    state: StateKind | None = None
    confirm: ConfirmFunction | None = None
    takes_context: bool = False
    # "own" for socbot's rules; "sigma:<id>" for a rule imported from Sigma (staged until
    # promoted: its signals are counted, not posted).
    origin: str = "own"

    @property
    def state_key_field(self) -> str | None:
        """The event field whose value keys this rule's state, if it has one."""
        return self.state.key_field if self.state is not None else None

    def with_overrides(self, severity: str | None, params: Mapping[str, Any]) -> Rule:
        """This rule with the config's severity and state parameter overrides applied."""
        rule = self if severity is None else replace(self, severity=severity)
        if not params:
            return rule
        if self.state is None:
            raise ValueError(f"rule {self.id} takes no params")
        return replace(rule, state=self.state.with_params(self.id, params))


REGISTRY: dict[str, Rule] = {}


def rule(*, id: str, title: str, severity: str, datasets: tuple[str, ...],
         actions: tuple[str, ...] | None = None, outcomes: tuple[str, ...] | None = None,
         mitre: tuple[str, ...] = (), runbook: str = "", dedup_window_s: int = 3600,
         dedup_by: str | None = None,
         entity_type: str = "", state: StateKind | None = None,
         confirm: ConfirmFunction | None = None,
         playbooks: tuple[str, ...] = (), tests: tuple[Case, ...] = ()
         ) -> Callable[[RuleFunction], RuleFunction]:
    """Register the decorated function as a rule (see the module docstring)."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: severity {severity!r} is not one of {SEVERITIES}")
    if outcomes is not None and (not outcomes or set(outcomes) - set(OUTCOMES)):
        raise ValueError(f"rule {id}: outcomes {outcomes!r} must name some of {OUTCOMES}")

    def register(function: RuleFunction) -> RuleFunction:
        if id in REGISTRY and REGISTRY[id].function.__module__ != function.__module__:
            raise ValueError(f"rule id {id!r} is registered twice")
        takes_context = len(inspect.signature(function).parameters) >= 2
        REGISTRY[id] = Rule(
            id=id, title=title, severity=severity, datasets=datasets, function=function,
            actions=actions, outcomes=outcomes, mitre=mitre, runbook=runbook,
            dedup_window_s=dedup_window_s,
            dedup_by=dedup_by, entity_type=entity_type,
            playbooks=playbooks, tests=tests, description=(function.__doc__ or "").strip(),
            state=state, confirm=confirm, takes_context=takes_context,
        )
        return function

    return register


def load_all() -> dict[str, Rule]:
    """Import every rule module under ``detections`` and return the registry."""
    import socbot.detections as detections

    # Rules live one level down (detections/<source>/<rule>.py); the engine's own modules
    # sit at the top and are not imported here.
    for module in pkgutil.walk_packages(detections.__path__, "socbot.detections."):
        if module.name.count(".") >= 3 and not module.ispkg:
            importlib.import_module(module.name)
    return REGISTRY


# Each title template split once into (text, field) pairs (field None after the last text).
_TEMPLATES: dict[str, tuple[tuple[str, str | None], ...]] = {}
_TEMPLATES_MAX = 10_000


def _template(template: str) -> tuple[tuple[str, str | None], ...]:
    parts = _TEMPLATES.get(template)
    if parts is None:
        found: list[tuple[str, str | None]] = []
        rest = template
        while "{" in rest and "}" in rest:
            before, _, tail = rest.partition("{")
            name, _, rest = tail.partition("}")
            found.append((before, name))
        found.append((rest, None))
        if len(_TEMPLATES) >= _TEMPLATES_MAX:
            _TEMPLATES.clear()
        parts = _TEMPLATES[template] = tuple(found)
    return parts


def render(template: str, event: Event) -> str:
    """Fill ``{field.name}`` placeholders from the event; a missing field reads ``?``.

    The template is split into its texts and fields once (remembered per template): a storm
    renders its rule's title for every signal."""
    out: list[str] = []
    for text, name in _template(template):
        out.append(text)
        if name is not None:
            value = event.get(name)
            out.append("?" if value in (None, "") else str(value))
    return "".join(out)
