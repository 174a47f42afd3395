"""How a detection rule is written, and the registry that holds them.

A rule is one module under ``detections/<source>/``: a pure function of the normalized event
(and, if it takes a second argument, the :class:`~detections.context.RuleContext` built from the
configuration), decorated with its metadata and its own test events. It does no I/O. A rule that
needs memory declares it with ``state=``; the engine keeps that state in Redis, shared by every
worker, and decides from it. Example::

    from socbot.detections.rule import Match, Threshold, rule

    @rule(
        id="secure.ssh_brute_force",
        title="SSH brute force from {source.ip}",
        severity="high",
        datasets=("secure",),
        actions=("ssh_login", "ssh_invalid_user"),
        mitre=("T1110.001",),
        state=Threshold(by="source.ip", count=8, window_s=120),
        tests=(Case("eight failures", fires=True, events=(...)),),
    )
    def ssh_brute_force(event: Event) -> Match | bool:
        return event.get("event.outcome") == "failure" and "source.ip" in event

The function returns ``False``/``None`` (no match), ``True`` (match, defaults from metadata) or a
:class:`Match` that sets the dedup key, entity, context, severity or playbooks for this event,
and for stateful rules the state key (``key``), the value counted (``value``) or the step of a
sequence or join (``step``).

State a rule can declare (all on event time, so a replay of last month fires as live did):

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
from dataclasses import dataclass, field, fields, replace
from typing import Any

from socbot.core.alerts import SEVERITIES
from socbot.core.events import Event


@dataclass(frozen=True)
class Threshold:
    """Fire once ``count`` matching events share the value of ``by`` within ``window_s``."""

    by: str
    count: int
    window_s: int


@dataclass(frozen=True)
class Distinct:
    """Fire once ``count`` distinct values of ``field`` share one ``by`` value in ``window_s``."""

    by: str
    field: str
    count: int
    window_s: int


@dataclass(frozen=True)
class FirstSeen:
    """Fire when a value of ``field`` was never seen for the ``by`` value (within ``ttl_s``)."""

    by: str
    field: str
    require_history: bool = True
    ttl_s: int = 90 * 86400


@dataclass(frozen=True)
class Sequence:
    """Fire on B after at least ``count`` A events (``step="first"``) within ``within_s``."""

    by: str
    within_s: int
    count: int = 1


@dataclass(frozen=True)
class Join:
    """Fire when events of different ``sides`` meet on one key within ``within_s``, either order."""

    within_s: int
    sides: tuple[str, ...] = ("a", "b")


@dataclass(frozen=True)
class Recent:
    """Hand the rule's ``confirm`` the earlier matches of one key within ``within_s``."""

    by: str
    within_s: int


@dataclass(frozen=True)
class Risk:
    """Fire when signals of at least ``min_rules`` rules about one entity score ``threshold``."""

    threshold: int
    window_s: int
    min_rules: int = 2


StateSpec = Threshold | Distinct | FirstSeen | Sequence | Join | Recent | Risk


@dataclass(frozen=True)
class State:
    """What the engine found for one stateful match, handed to ``confirm``.

    ``count``: events in the window (Threshold), distinct values (Distinct), A events
    (Sequence), total risk score (Risk). ``new``: FirstSeen's verdict. ``records``: the
    remembered context of the other events (Sequence's A events, Join's other side, Recent's
    earlier events, Risk's contributing signals), oldest first, each with ``"@t"`` (epoch).
    ``key``: the state key (``Match.key`` or the ``by`` field's value).
    """

    count: int = 0
    new: bool = False
    records: tuple[Mapping[str, Any], ...] = ()
    key: str = ""


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
    mitre: tuple[str, ...] = ()
    runbook: str = ""
    dedup_window_s: int = 3600
    dedup_by: str | None = None
    entity_type: str = ""
    threshold: Threshold | None = None
    playbooks: tuple[str, ...] = ()
    tests: tuple[Case, ...] = ()
    description: str = ""
    state: StateSpec | None = None
    confirm: ConfirmFunction | None = None
    takes_context: bool = False

    def __post_init__(self) -> None:
        # ``threshold=`` is the original spelling of ``state=Threshold(...)``; keep both in step.
        if self.state is None and self.threshold is not None:
            object.__setattr__(self, "state", self.threshold)
        elif isinstance(self.state, Threshold) and self.threshold is None:
            object.__setattr__(self, "threshold", self.state)

    @property
    def state_key_field(self) -> str | None:
        """The event field whose value keys this rule's state, if it has one."""
        return getattr(self.state, "by", None)

    def with_overrides(self, severity: str | None, params: Mapping[str, Any]) -> Rule:
        """This rule with the config's severity and state parameter overrides applied."""
        rule = self if severity is None else replace(self, severity=severity)
        if not params:
            return rule
        if self.state is None:
            raise ValueError(f"rule {self.id} takes no params")
        kinds = {f.name: str(f.type) for f in fields(self.state) if str(f.type) in ("int", "bool")}
        unknown = set(params) - set(kinds)
        if unknown:
            raise ValueError(f"rule {self.id}: unknown params {sorted(unknown)}; "
                             f"this rule takes {sorted(kinds)}")
        for name, value in params.items():
            if kinds[name] == "bool" and not isinstance(value, bool):
                raise ValueError(f"rule {self.id}: params.{name}: write true or false "
                                 f"(got {value!r})")
            if kinds[name] == "int" and (isinstance(value, bool) or not isinstance(value, int)
                                         or value <= 0):
                raise ValueError(f"rule {self.id}: params.{name}: write a positive whole "
                                 f"number (got {value!r})")
        state = replace(self.state, **params)
        return replace(rule, state=state,
                       threshold=state if isinstance(state, Threshold) else None)


REGISTRY: dict[str, Rule] = {}


def rule(*, id: str, title: str, severity: str, datasets: tuple[str, ...],
         actions: tuple[str, ...] | None = None, mitre: tuple[str, ...] = (),
         runbook: str = "", dedup_window_s: int = 3600, dedup_by: str | None = None,
         entity_type: str = "", threshold: Threshold | None = None,
         state: StateSpec | None = None, confirm: ConfirmFunction | None = None,
         playbooks: tuple[str, ...] = (), tests: tuple[Case, ...] = ()
         ) -> Callable[[RuleFunction], RuleFunction]:
    """Register the decorated function as a rule (see the module docstring)."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: severity {severity!r} is not one of {SEVERITIES}")
    if threshold is not None and state is not None:
        raise ValueError(f"rule {id}: give threshold= or state=, not both")

    def register(function: RuleFunction) -> RuleFunction:
        if id in REGISTRY and REGISTRY[id].function.__module__ != function.__module__:
            raise ValueError(f"rule id {id!r} is registered twice")
        takes_context = len(inspect.signature(function).parameters) >= 2
        REGISTRY[id] = Rule(
            id=id, title=title, severity=severity, datasets=datasets, function=function,
            actions=actions, mitre=mitre, runbook=runbook, dedup_window_s=dedup_window_s,
            dedup_by=dedup_by, entity_type=entity_type, threshold=threshold,
            playbooks=playbooks, tests=tests, description=(function.__doc__ or "").strip(),
            state=state or threshold, confirm=confirm, takes_context=takes_context,
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
