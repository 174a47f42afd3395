"""What every kind of rule state is made of (see :mod:`socbot.detections.state`).

A kind is a frozen dataclass, the declaration a rule writes (``state=Threshold(...)``), with:

- ``code``: the operation name its Lua step registers (``ops.<code> = function(op) ... end``
  in the ``.lua`` file beside the module, named like it);
- :meth:`StateKind.plan`: the operation for one match (a JSON-ready list starting with the code
  and the Redis key), or None when the match gives nothing to keep;
- :meth:`StateKind.decode`: the :class:`State` the reply means, or None (no signal);
- :meth:`StateKind.annotate`: what a signal of this kind counts and adds to its context;
- :meth:`StateKind.describe`: the text ``socbot rules list`` shows.

All state runs on event time and uses the event id as member, so a redelivered event is never
counted twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Self, TypeVar

import orjson

from socbot.core import keys

if TYPE_CHECKING:
    from socbot.core.config import DetectionSettings
    from socbot.core.events import Event
    from socbot.detections.rule import Match

RECORDS_MAX = 20  # earlier events handed to a rule (newest kept)
KEEP_MAX = 1000  # events remembered per key for Sequence, Join and Recent
SEP = "\x1f"

# One operation of the batch script: its code, its Redis key, then its arguments.
Op = list[str | int | float | list[str]]
# Per-engine memory a kind may keep between batches (Risk: what it sent recently).
Memo = dict[tuple[str, ...], float]
MEMO_MAX = 100_000  # entries an engine's Memo holds before it starts afresh


C = TypeVar("C", bound=type)


class _Factory:
    """The default of a parameter whose field has a ``default_factory`` (as dataclasses show)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def quick_init(cls: C) -> C:
    """Give a frozen dataclass an ``__init__`` that fills the instance's ``__dict__`` in one
    step, for records made once per event or more (a storm makes millions).

    The generated ``__init__`` of a frozen dataclass sets each field through
    ``object.__setattr__``, several times slower. This one takes the same parameters, in the
    same order, with the same defaults (a ``default_factory`` is called per instance), and sets
    the same fields: the instance compares, hashes, prints and stays frozen as before. For
    dataclasses without ``__post_init__``, ``InitVar`` or ``__slots__`` (checked).
    """
    if "__post_init__" in vars(cls) or "__slots__" in vars(cls):
        raise TypeError(f"quick_init: {cls.__name__} has __post_init__ or __slots__")
    namespace: dict[str, Any] = {"_MISSING": _FACTORY}
    params, items = [], []
    for f in fields(cls):
        if not f.init:
            raise TypeError(f"quick_init: {cls.__name__}.{f.name} is not an init field")
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
            items.append(f"{f.name!r}: {f.name}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            items.append(f"{f.name!r}: _factory_{f.name}() if {f.name} is _MISSING else {f.name}")
        else:
            params.append(f.name)
            items.append(f"{f.name!r}: {f.name}")
    exec(f"def __init__(self, {', '.join(params)}):\n"  # built from the field names
         f"    self.__dict__.update({{{', '.join(items)}}})\n", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 - mypy keeps the dataclass's signature
    return cls


@quick_init
@dataclass(frozen=True)
class State:
    """What the engine found for one stateful match, handed to ``confirm``.

    ``count``: events in the window (Threshold), distinct values (Distinct), A events
    (Sequence), total risk score (Risk). ``new``: FirstSeen's verdict. ``records``: the
    remembered context of the other events (Sequence's A events, Join's other side, Recent's
    earlier events, Risk's contributing signals), oldest first, each with ``"@t"`` (epoch).
    ``key``: the state key (``Match.key`` or the ``by`` field's value). ``adds``: the events
    the signal adds to an alert it updates (Threshold: itself and the earlier events of its
    window that no other signal counted).
    """

    count: int = 0
    new: bool = False
    records: tuple[Mapping[str, Any], ...] = ()
    key: str = ""
    adds: int = 1


class Planned(NamedTuple):
    """The operation planned for one match, and what the kind needs to read its reply (a named
    tuple: a storm plans several per line, and a tuple is the cheapest immutable record)."""

    op: Op
    step: str = ""  # which step of the kind (Sequence: "first" or "then")
    event_id: str = ""


@dataclass(frozen=True)
class StateKind:
    """Base of every state kind; subclasses are frozen dataclasses registered by code."""

    code: ClassVar[str] = ""
    # Lua put before the kind's step in the script (constants it shares with Python).
    lua_prelude: ClassVar[str] = ""
    # True when the kind's step touches only the state of its own key (the op's second item),
    # so a batch's operations on one key may run together as one fold (see :func:`fold`).
    foldable: ClassVar[bool] = False

    @property
    def key_field(self) -> str | None:
        """The event field whose value keys this state, if the kind has one."""
        return None

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        """The operation for one match, or None when there is nothing to keep or ask."""
        raise NotImplementedError

    def decode(self, reply: object, planned: Planned) -> State | None:
        """The state the script's reply means, or None when the rule does not fire."""
        raise NotImplementedError

    def annotate(self, state: State, context: dict[str, Any]) -> int:
        """Add this kind's lines to a signal's context; return the events the signal stands
        for when it opens an alert."""
        return 1

    def configure(self, detection: DetectionSettings) -> Self:
        """This declaration with the ``detection`` settings that apply to its kind."""
        return self

    def describe(self) -> str:
        """``Kind(param=value, ...)`` for ``socbot rules list``."""
        params = ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                           if f.name != "sides")
        return f"{type(self).__name__}({params})"

    def tunable(self) -> dict[str, str]:
        """The parameters a configuration may override: name -> "int" or "bool"."""
        return {f.name: str(f.type) for f in fields(self) if str(f.type) in ("int", "bool")}

    def with_params(self, rule_id: str, params: Mapping[str, object]) -> Self:
        """This declaration with the configuration's ``params``; ValueError says what to fix."""
        kinds = self.tunable()
        unknown = set(params) - set(kinds)
        if unknown:
            raise ValueError(f"rule {rule_id}: unknown params {sorted(unknown)}; "
                             f"this rule takes {sorted(kinds)}")
        for name, value in params.items():
            if kinds[name] == "bool" and not isinstance(value, bool):
                raise ValueError(f"rule {rule_id}: params.{name}: write true or false "
                                 f"(got {value!r})")
            if kinds[name] == "int" and (isinstance(value, bool) or not isinstance(value, int)
                                         or value <= 0):
                raise ValueError(f"rule {rule_id}: params.{name}: write a positive whole "
                                 f"number (got {value!r})")
        return replace(self, **params)


FOLD = "*"  # the code of a fold (script.lua)


def fold(ops: Sequence[Op], codes: frozenset[str]) -> tuple[list[Op], list[int | list[int]]]:
    """A batch's operations as the script gets them, and where their replies go.

    The operations of a kind in ``codes`` (its step touches only its own key) on one key, when
    there are several of them and all of one length, travel as one fold
    ``["*", code, key, stride, <arguments after the key of each, in order>...]`` in the place of
    the first of them: the key is sent and looked up once, and the kind's Lua may run them
    together. Moving them ahead of operations on other keys changes no reply, since no other
    operation reads their key. Every other operation is sent as it is, in its place.

    The second list has, for each operation sent, its index in ``ops``, or for a fold the
    indexes of the operations it holds (its reply is the list of their replies): see
    :func:`unfold`.
    """
    sent: list[Op] = []
    where: list[int | list[int]] = []
    open_: dict[tuple[object, object], tuple[int, int]] = {}  # -> (place in sent, op length)
    mixed = False
    for index, op in enumerate(ops):
        if op[0] not in codes:
            sent.append(op)
            where.append(index)
            continue
        group = (op[0], op[1])
        found = open_.get(group)
        if found is None:
            open_[group] = (len(sent), len(op))
            sent.append(op)
            where.append(index)
            continue
        place, length = found
        if length != len(op):
            mixed = True
            break
        members = where[place]
        if isinstance(members, int):  # the second of its key: the first becomes a fold
            first = sent[place]
            sent[place] = [FOLD, first[0], first[1], length - 2, *first[2:]]
            members = where[place] = [members]
        sent[place] += op[2:]
        members.append(index)
    if mixed:  # a key with operations of two lengths (two steps): its ops stay as they are
        return _fold_uniform(ops, codes)
    return sent, where


def _fold_uniform(ops: Sequence[Op],
                  codes: frozenset[str]) -> tuple[list[Op], list[int | list[int]]]:
    """:func:`fold` when some key has operations of different lengths: only the keys whose
    operations share one length fold (the others keep their order among the rest)."""
    lengths: dict[tuple[object, object], set[int]] = {}
    for op in ops:
        if op[0] in codes:
            lengths.setdefault((op[0], op[1]), set()).add(len(op))
    uniform = frozenset(group for group, seen in lengths.items() if len(seen) == 1)
    sent: list[Op] = []
    where: list[int | list[int]] = []
    open_: dict[tuple[object, object], int] = {}
    for index, op in enumerate(ops):
        group = (op[0], op[1])
        place = open_.get(group) if group in uniform else None
        if group in uniform and place is None:
            open_[group] = len(sent)
        if place is None:
            sent.append(op)
            where.append(index)
            continue
        members = where[place]
        if isinstance(members, int):
            first = sent[place]
            sent[place] = [FOLD, first[0], first[1], len(first) - 2, *first[2:]]
            members = where[place] = [members]
        sent[place] += op[2:]
        members.append(index)
    return sent, where


def unfold(replies: Sequence[object], where: Sequence[int | list[int]],
           count: int) -> list[object]:
    """The reply of each of the ``count`` operations :func:`fold` was given, in their order;
    ValueError when the replies do not have the shape of what was sent."""
    if len(replies) != len(where):
        raise ValueError(f"{len(replies)} replies to {len(where)} state operations")
    out: list[object] = [None] * count
    for reply, place in zip(replies, where, strict=True):
        if isinstance(place, int):
            out[place] = reply
            continue
        if not isinstance(reply, list | tuple) or len(reply) != len(place):
            raise ValueError(f"a fold of {len(place)} state operations got {reply!r:.80}")
        for index, one in zip(place, reply, strict=True):
            out[index] = one
    return out


def state_key(rule_id: str, key: str, part: str) -> str:
    """The Redis key of one rule's state of one kind for one key."""
    return keys.rule_state(rule_id, key, part)


def as_int(value: object) -> int:
    """An integer of a script reply; TypeError when the reply has another shape."""
    if type(value) is int:  # what a reply holds nearly always
        return value
    if isinstance(value, int | float | str | bytes):
        return int(value)
    raise TypeError(f"expected a number in the state reply, got {value!r:.80}")


def as_list(value: object) -> Sequence[object]:
    """A list of a script reply; TypeError when the reply has another shape."""
    if isinstance(value, list | tuple):
        return value
    if value == {}:  # an empty Lua table may come back as a map
        return []
    raise TypeError(f"expected a list in the state reply, got {value!r:.80}")


def as_text(value: object) -> str:
    """Text of a script reply."""
    return value.decode() if isinstance(value, bytes) else str(value)


def record(event_id: str, context: Mapping[str, Any]) -> str:
    """A remembered event: ``<event id>\\x1f<context as JSON>`` (the member of a sorted set)."""
    return event_id + SEP + orjson.dumps(context, default=str,
                                         option=orjson.OPT_SORT_KEYS).decode()


def pairs(flat: object) -> list[tuple[object, float]]:
    """``[member, score, member, score, ...]`` as pairs."""
    items = as_list(flat)
    return [(items[i], float(as_text(items[i + 1]))) for i in range(0, len(items) - 1, 2)]


def records(raw: Sequence[tuple[object, float]],
            skip: str = "") -> tuple[dict[str, Any], ...]:
    """Remembered events as dicts with ``"@t"`` and ``"event.id"``, leaving out ``skip``."""
    out = []
    for member, score in raw:
        event_id, _, payload = as_text(member).partition(SEP)
        if event_id == skip:
            continue
        found: dict[str, Any] = json.loads(payload) if payload else {}
        found["@t"] = score
        found["event.id"] = event_id
        out.append(found)
    return tuple(out)
