"""The detection engine: events in, signals out.

An event meets only the rules indexed under its dataset and action (the dispatch index), so the
cost of an event does not grow with the size of the rule pack. A rule that raises is logged with
its id and the event id and counted as not matching: one broken rule never stops the pipeline.

Rules without state never touch Redis. Stateful rules (see :mod:`detections.rule`) only plan
operations, run by one script call per :data:`PART` events of a batch; the calls of a batch
are sent on one connection as soon as their events are planned and their replies read at the
end, so Redis runs one part while Python plans the next. The state lives in Redis, keyed by
rule and key, so every worker shares it. Windows run on event time and use the event id as
member, so a redelivered event is never counted twice.

After the events, the signals themselves go through the rules of the ``signal`` dataset (the
entity-risk insight): a signal becomes an event ``{"event.dataset": "signal", "event.action":
<rule id>, "signal.severity": ..., "signal.entity.type"/"value", <its context>}``. Signals of
``signal`` rules do not go round again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any, NamedTuple

import msgpack
import redis

from socbot.core.alerts import SEVERITIES, Signal
from socbot.core.config import RuleSettings, Settings
from socbot.core.events import Event, epoch
from socbot.core.scriptcalls import ScriptCalls
from socbot.detections.context import RuleContext
from socbot.detections.rule import Match, Rule, render
from socbot.detections.state import registry as kinds
from socbot.detections.state.base import FOLD, Memo, Planned, State, StateKind, fold, unfold

log = logging.getLogger(__name__)

# Event fields copied into every signal's context when present: what people need to triage.
CONTEXT_FIELDS = ("source.ip", "user.name", "host.name", "cloud.account.id", "cloud.region",
                  "event.action", "event.outcome")
SIGNAL_DATASET = "signal"
_SCALARS = (str, int, float)
_new_tuple = tuple.__new__
_NO_MATCH = Match()
_ABSENT = object()
# Engine._signal passes a Signal's fields by position, in this order (checked at import).
_SIGNAL_FIELDS = ("rule_id", "title", "severity", "dedup_key", "entity", "event_ids", "timestamp",
                  "dataset", "window_s", "count", "adds", "mitre", "runbook", "context",
                  "playbooks", "merged")
# Engine._merged_signal reads the triage fields one by one, in this order (checked at import).
if CONTEXT_FIELDS != ("source.ip", "user.name", "host.name", "cloud.account.id", "cloud.region",
                      "event.action", "event.outcome"):
    raise ImportError("CONTEXT_FIELDS changed: update Engine._merged_signal")
if tuple(f.name for f in fields(Signal)) != _SIGNAL_FIELDS:
    raise ImportError("core.alerts.Signal's fields changed: update Engine._signal")


class _Pending(NamedTuple):
    """One stateful match waiting for its pipeline results."""

    position: int  # of its event in the batch
    rule: Rule
    kind: StateKind
    event: Event
    match: Match
    key: str
    planned: Planned


class Engine:
    """Evaluate the rule pack on events."""

    def __init__(self, client: redis.Redis, rules: Mapping[str, Rule],
                 overrides: Mapping[str, RuleSettings] | None = None, *,
                 settings: Settings | None = None) -> None:
        if overrides is None and settings is not None:
            overrides = settings.rules
        overrides = overrides or {}
        unknown = sorted(set(overrides) - set(rules))
        if unknown:
            raise ValueError(f"rules: {unknown[0]!r} is not a rule id; "
                             f"known rules: {', '.join(sorted(rules))}")
        self.client = client
        self.context = RuleContext(settings)
        self.rules: dict[str, Rule] = {}
        for rule_id, rule in rules.items():
            setting = overrides.get(rule_id)
            if setting and not setting.enabled:
                continue
            if rule.state is not None:  # the detection settings of its kind, when set
                rule = replace(rule, state=rule.state.configure(self.context.detection))
            self.rules[rule_id] = (rule.with_overrides(setting.severity, setting.params)
                                   if setting else rule)
        self._memo: Memo = {}  # what state kinds remember between batches
        self._state: Any = None  # the batch script, registered on first use
        self._by_action: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        self._by_dataset: dict[str, list[Rule]] = defaultdict(list)
        for rule in self.rules.values():
            for dataset in rule.datasets:
                if rule.actions is None:
                    self._by_dataset[dataset].append(rule)
                else:
                    for action in rule.actions:
                        self._by_action[(dataset, action)].append(rule)
        # One list per (dataset, action, outcome) seen, built on first use: the hot path is one
        # lookup.
        self._merged: dict[tuple[str, str, str], tuple[Rule, ...]] = {}
        # The codes of the kinds whose operations on one key travel folded (one per key).
        self._foldable = frozenset(cls.code for cls in kinds.all_kinds() if cls.foldable)
        self._has_signal_rules = any(SIGNAL_DATASET in r.datasets for r in self.rules.values())
        self.errors: dict[str, int] = defaultdict(int)

    # -- dispatch -------------------------------------------------------------------------

    def candidates(self, event: Event) -> tuple[Rule, ...]:
        """The rules that can match this event's dataset, action and outcome (none when one
        of them is not text: :func:`core.events.validate` refuses such an event)."""
        index = (event.get("event.dataset", ""), event.get("event.action", ""),
                 event.get("event.outcome", ""))
        if not all(isinstance(part, str) for part in index):
            return ()
        found = self._merged.get(index)
        if found is None:
            dataset, action, outcome = index
            listed = self._by_action.get((dataset, action), []) + self._by_dataset.get(dataset, [])
            found = self._merged[index] = tuple(
                r for r in listed if r.outcomes is None or outcome in r.outcomes)
        return found

    def call(self, rule: Rule, event: Event) -> Match | None:
        """Run one rule's function on one event; a rule that raises is logged and not a match."""
        try:
            result = (rule.function(event, self.context) if rule.takes_context
                      else rule.function(event))
        except Exception:
            self._raised(rule, event)
            return None
        if not result:
            return None
        return result if isinstance(result, Match) else _NO_MATCH

    def _raised(self, rule: Rule, event: Event) -> None:
        """Count and log the exception a rule's function raised on ``event``."""
        self.errors[rule.id] += 1
        log.exception("rule %s raised on event %s; treated as not matching",
                      rule.id, event.get("event.id"))

    # -- evaluation -----------------------------------------------------------------------

    def evaluate(self, event: Event) -> list[Signal]:
        """Every signal this event raises."""
        return self.evaluate_batch([event])[0]

    def evaluate_all(self, events: Iterable[Event],
                     batch: int = 500) -> Iterable[tuple[Event, list[Signal]]]:
        """Evaluate a sequence of events in batches, yielding each with its signals."""
        chunk: list[Event] = []
        for event in events:
            chunk.append(event)
            if len(chunk) >= batch:
                yield from zip(chunk, self.evaluate_batch(chunk), strict=True)
                chunk = []
        if chunk:
            yield from zip(chunk, self.evaluate_batch(chunk), strict=True)

    def evaluate_batch(self, events: Sequence[Event]) -> list[list[Signal]]:
        """The signals of each event, in order; stateful rules share one script call per
        :data:`PART` events, sent on one connection and read at the end.

        The rule calls are :meth:`call` written out in the loop (a storm runs ten per event):
        the same outcome, the same logging of a rule that raises.

        The state operations of every :data:`PART` events are sent as soon as those events are
        planned (:class:`~socbot.core.scriptcalls.ScriptCalls`: one connection, so Redis runs
        them in the order sent) and the replies are read once every event is planned: Redis runs
        a part while Python plans the next one and finishes the earlier ones. Plans are made in
        event order and replies read in that order, as with one call; the state kinds answer a
        batch the same however it is cut (see ``tests/test_state_fold.py``).

        Two stages: :meth:`evaluate_events`, then :meth:`signal_stage` (what the detect stage
        calls apart, to write the first stage's alerts while the second runs).
        """
        out = self.evaluate_events(events)
        self.signal_stage(events, out)
        return out

    def evaluate_events(self, events: Sequence[Event], *,
                        merge: bool = False) -> list[list[Signal]]:
        """The signals of each event without the signals' own pass through the ``signal``
        rules (:meth:`signal_stage`).

        ``merge`` (the detect stage): a signal that would differ from an earlier one of the
        batch only by its event, time and counts is not built; its event joins the earlier
        signal's ``merged`` list with its place in ``events`` (the signal is listed under the
        earlier event only). That is: same rule (one without ``confirm``), same dedup key and
        entity, a match that says the same (title, severity, entity, context, playbooks), the
        same triage fields (:data:`CONTEXT_FIELDS`), and the same alert group as
        :func:`core.grouping.fold` will cut them (no gap longer than the rule's window
        between). The alert written is the same as from the signals one by one, counts
        included; a storm's thousands of signals per batch become one per address, host and
        user, and so do the derived events of the entity-risk pass (whose rules count each
        rule once per entity).
        """
        out: list[list[Signal]] = [[] for _ in events]
        runs = _Runs() if merge else None
        pending: list[_Pending] = []
        parts: list[list[_Pending]] = []
        merged, context = self._merged, self.context
        with ScriptCalls(self.client, self._script) as calls:
            for index, event in enumerate(events):
                timestamp: float | None = None
                try:
                    rules = merged.get((event.get("event.dataset", ""),
                                        event.get("event.action", ""),
                                        event.get("event.outcome", "")))
                except TypeError:  # not text: candidates() has none for it
                    rules = None
                if rules is None:
                    rules = self.candidates(event)
                for rule in rules:
                    try:
                        result = (rule.function(event, context) if rule.takes_context
                                  else rule.function(event))
                    except Exception:
                        self._raised(rule, event)
                        continue
                    if not result:
                        continue
                    match = result if isinstance(result, Match) else _NO_MATCH
                    if rule.state is None:
                        signal = (self._signal(rule, event, match, None, None) if runs is None
                                  else self._merged_signal(runs, index, rule, event, match, None,
                                                           None))
                        if signal is not None:
                            out[index].append(signal)
                        continue
                    if timestamp is None:
                        timestamp = epoch(event)
                    self._queue(pending, index, rule, event, match, timestamp)
                if pending and (index + 1) % PART == 0:
                    parts.append(self._send(calls, pending))
                    pending = []
            if pending:
                parts.append(self._send(calls, pending))
            for part in parts:
                self._finish(part, out, calls.read(), runs)
        return out

    def signal_stage(self, events: Sequence[Event], out: list[list[Signal]]) -> list[Signal]:
        """Run the signals of :meth:`evaluate_events` (``out``, per event of ``events``) through
        the rules of the ``signal`` dataset; their signals join ``out`` (after those of the
        event they came from) and are returned, in order. They do not go round again."""
        if not self._has_signal_rules:
            return []
        places: list[int] = []  # the event each derived event came from
        derived: list[Event] = []
        for index, (event, signals) in enumerate(zip(events, out, strict=True)):
            for signal in signals:
                if signal.dataset != SIGNAL_DATASET:
                    places.append(index)
                    derived.append(signal_event(signal, event))
        if not derived:
            return []
        added: list[Signal] = []
        for index, signals in zip(places, self.evaluate_events(derived), strict=True):
            if signals:
                out[index].extend(signals)
                added.extend(signals)
        return added

    def _queue(self, pending: list[_Pending], index: int, rule: Rule, event: Event,
               match: Match, timestamp: float) -> None:
        kind = rule.state
        if kind is None:
            return
        keys: tuple[str, ...]
        if match.key is not None:
            keys = (match.key,) if isinstance(match.key, str) else tuple(match.key)
        else:
            by = kind.key_field
            value = event.get(by) if by else None
            if value in (None, ""):
                return
            keys = (str(value),)
        event_id = str(event.get("event.id", ""))
        for key in keys:
            if not key:
                continue
            planned = kind.plan(rule.id, key, event, match, event_id, timestamp, self._memo)
            if planned is not None:  # _Pending(...) without its keyword-taking __new__
                pending.append(_new_tuple(_Pending, (index, rule, kind, event, match, key,
                                                     planned)))

    def _script(self) -> Any:
        if self._state is None:
            self._state = self.client.register_script(kinds.script())
        return self._state

    def _send(self, calls: ScriptCalls, pending: list[_Pending]) -> list[_Pending]:
        """Send the operations of ``pending`` (folded per key) in one call of the script."""
        sent, where = fold([item.planned.op for item in pending], self._foldable)
        # The keys go in KEYS as well (once each): Redis Cluster routes the call by them and
        # checks they share a slot (every rule-state key carries the {soc} tag).
        # Read off what is sent: a fold names its key once (["*", code, key, ...]).
        declared = list(dict.fromkeys(str(op[2] if op[0] == FOLD else op[1]) for op in sent))
        calls.send(msgpack.packb(sent), declared, (where, len(pending)))
        return pending

    def _finish(self, pending: list[_Pending], out: list[list[Signal]],
                reply: tuple[bytes, Any], runs: _Runs | None = None) -> None:
        raw, (where, count) = reply
        results = unfold(msgpack.unpackb(raw, raw=False), where, count)
        for item, result in zip(pending, results, strict=True):
            try:
                state = item.kind.decode(result, item.planned)
            except (ValueError, TypeError, IndexError):
                log.exception("state of rule %s for key %r could not be read",
                              item.rule.id, item.key)
                continue
            if state is None:
                continue
            match = item.match
            if item.rule.confirm is not None:
                state = replace(state, key=item.key)
                try:
                    confirmed = item.rule.confirm(match, state, self.context)
                except Exception:
                    self.errors[item.rule.id] += 1
                    log.exception("rule %s confirm raised on event %s; treated as not matching",
                                  item.rule.id, item.event.get("event.id"))
                    continue
                if not confirmed:
                    continue
                match = confirmed
            signal = (self._signal(item.rule, item.event, match, state, item.key) if runs is None
                      else self._merged_signal(runs, item.position, item.rule, item.event, match,
                                               state, item.key))
            if signal is not None:
                out[item.position].append(signal)

    def stateful_signal(self, rule: Rule, event: Event, match: Match) -> list[Signal]:
        """One stateful match evaluated on its own (one round trip): the naive path."""
        out: list[list[Signal]] = [[]]
        pending: list[_Pending] = []
        self._queue(pending, 0, rule, event, match, epoch(event))
        if pending:
            with ScriptCalls(self.client, self._script) as calls:
                self._finish(self._send(calls, pending), out, calls.read())
        return out[0]

    def _merged_signal(self, runs: _Runs, position: int, rule: Rule, event: Event,
                       match: Match, state: State | None, key: str | None) -> Signal | None:
        """:meth:`_signal`, or None when the event merged into an earlier signal of the batch
        (see :meth:`evaluate_events`)."""
        if key is None:  # a rule without state: its dedup field's value, as _signal takes it
            key = str(event.get(rule.dedup_by, "")) if rule.dedup_by else ""
        dedup = match.dedup or key
        head_key: tuple[object, ...] | None = None
        mergeable = bool(rule.confirm is None and dedup and (key or match.entity))
        if mergeable:
            ts = epoch(event)
            said = () if match is _NO_MATCH else (
                match.severity, match.playbooks, match.dedup,
                tuple(match.entity.items()) if match.entity else None,
                tuple(match.context.items()) if match.context else None)
            get = event.get  # the triage fields, CONTEXT_FIELDS, written out (once per line)
            head_key = (rule.id, dedup, runs.group(rule.id, dedup, ts, rule.dedup_window_s),
                        match.title or render(rule.title, event), said,
                        get("source.ip", _ABSENT), get("user.name", _ABSENT),
                        get("host.name", _ABSENT), get("cloud.account.id", _ABSENT),
                        get("cloud.region", _ABSENT), get("event.action", _ABSENT),
                        get("event.outcome", _ABSENT))
            try:
                head = runs.heads.get(head_key)
            except TypeError:  # a context value that is not hashable (a list): not merged
                head = head_key = None
            if head is not None:
                head.merged.append((str(event["event.id"]), ts,
                                    1 if state is None else state.adds, position))
                return None
        signal = self._signal(rule, event, match, state, key or None)
        if signal is None:
            return None
        if head_key is not None:
            runs.heads[head_key] = signal
        elif not mergeable:  # its group was not looked up above: keep the groups' times whole
            runs.group(signal.rule_id, signal.dedup_key, signal.timestamp, signal.window_s)
        return signal

    def _signal(self, rule: Rule, event: Event, match: Match, state: State | None,
                key: str | None) -> Signal | None:
        event_id = str(event["event.id"])
        spec = rule.state
        key_field = rule.dedup_by or (spec.key_field if spec is not None else None)
        key_value = key if key is not None else (
            str(event.get(key_field, "")) if key_field else "")
        dedup = match.dedup or key_value or event_id
        entity = dict(match.entity) if match.entity else {
            "type": rule.entity_type or (key_field or "event"),
            "value": key_value or event_id,
        }
        # The event's triage fields (a loop: a storm builds one context per signal).
        context: dict[str, Any] = {}
        for name in CONTEXT_FIELDS:
            value = event.get(name, _ABSENT)
            if value is not _ABSENT:
                context[name] = value
        if match.context:
            context.update(match.context)
        count = adds = 1
        if state is not None and spec is not None:
            count, adds = spec.annotate(state, context), state.adds
        severity = match.severity or rule.severity
        if severity not in SEVERITIES:
            log.error("rule %s gave unknown severity %r; using %s", rule.id, severity,
                      rule.severity)
            severity = rule.severity
        # Positional, in Signal's field order (a storm makes one per line).
        return Signal(
            rule.id, match.title or render(rule.title, event), severity, dedup, entity,
            [event_id], epoch(event), str(event.get("event.dataset", "")),
            rule.dedup_window_s, count, adds, list(rule.mitre), rule.runbook, context,
            list(match.playbooks if match.playbooks is not None else rule.playbooks),
        )


class _Runs:
    """What :meth:`Engine.evaluate_events` knows while it merges a batch's signals: the alert
    group each (rule, dedup key) is in, cut as :func:`core.grouping.fold` cuts them (a gap
    longer than the rule's window after the latest signal starts a new one), and the signal
    that later events of each run join."""

    __slots__ = ("groups", "heads")

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], list[float]] = {}  # -> [last seen, group number]
        self.heads: dict[tuple[object, ...], Signal] = {}

    def group(self, rule_id: str, dedup: str, ts: float, window: float) -> float:
        """The number of the group a signal of ``rule_id`` and ``dedup`` at ``ts`` joins."""
        found = self.groups.get((rule_id, dedup))
        if found is None:
            self.groups[(rule_id, dedup)] = [ts, 0]
            return 0
        if ts - found[0] > window:
            found[0] = ts
            found[1] += 1
        elif ts > found[0]:
            found[0] = ts
        return found[1]


# Entries the detect stage reads at most at once (and ``socbot replay`` evaluates at once). A read
# takes what is there, so quiet traffic is handled as it comes; a backlog (a storm) is read in
# batches this large, whose state operations fold per key and whose alerts are written once per
# batch (storm of 100,000 lines, bench/bench_detect_stage.py: 500 -> 2,000 took it from about
# 12,000 to 14,000 lines/s).
BATCH = 2000

# Events whose state operations go in one call of the batch script. A full batch (BATCH) is four
# calls: Redis runs each while Python plans the next, then while Python turns the replies of the
# earlier ones into signals, so little of Redis's time is left to wait for at the end (storm of
# 100,000 lines, bench/bench_detect_stage.py: waiting for the last reply 0.26 -> 0.02 s, about
# 28,000 -> 31,000 lines/s; 250 cost more in Redis than it saved).
PART = 500

def signal_event(signal: Signal, event: Event) -> Event:
    """A signal as an event of the ``signal`` dataset (at the time of ``event``, the event it
    came from), for the entity-risk rules."""
    derived: Event = {}
    for name, value in signal.context.items():  # a loop: one per signal of a storm
        if isinstance(value, _SCALARS):
            derived[name] = value
    # Set one by one (a field the context had keeps its place, takes the new value; the others
    # follow in this order), as an update with these pairs would, without building them first.
    entity = signal.entity
    derived["@timestamp"] = event["@timestamp"]
    derived["event.id"] = signal.id
    derived["event.dataset"] = SIGNAL_DATASET
    derived["event.action"] = signal.rule_id
    derived["event.outcome"] = "unknown"
    derived["signal.severity"] = signal.severity
    derived["signal.title"] = signal.title
    derived["signal.dataset"] = signal.dataset
    derived["signal.entity.type"] = entity.get("type", "")
    derived["signal.entity.value"] = entity.get("value", "")
    return derived

