"""The detection engine: events in, signals out.

An event meets only the rules indexed under its dataset and action (the dispatch index), so the
cost of an event does not grow with the size of the rule pack. A rule that raises is logged with
its id and the event id and counted as not matching: one broken rule never stops the pipeline.

Rules without state never touch Redis. Stateful rules (see :mod:`detections.rule`) only queue
commands on one pipeline per batch of events, executed in a single round trip; the state lives
in Redis, keyed by rule and key, so every worker shares it. Windows run on event time and use
the event id as member, so a redelivered event is never counted twice.

After the events, the signals themselves go through the rules of the ``signal`` dataset (the
entity-risk insight): a signal becomes an event ``{"event.dataset": "signal", "event.action":
<rule id>, "signal.severity": ..., "signal.entity.type"/"value", <its context>}``. Signals of
``signal`` rules do not go round again.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis

from core.alerts import SEVERITIES, Signal
from core.config import RuleSettings, Settings
from core.events import Event, epoch, format_timestamp
from detections.context import RuleContext
from detections.rule import (
    Distinct,
    FirstSeen,
    Join,
    Match,
    Recent,
    Risk,
    Rule,
    State,
    Threshold,
    render,
)
from detections.rule import Sequence as SequenceSpec

log = logging.getLogger(__name__)

# Event fields copied into every signal's context when present: what people need to triage.
CONTEXT_FIELDS = ("source.ip", "user.name", "host.name", "cloud.account.id", "cloud.region",
                  "event.action", "event.outcome")
# Risk points per severity for the entity-risk rules.
RISK_SCORES = {"info": 1, "low": 10, "medium": 25, "high": 50, "critical": 100}
SIGNAL_DATASET = "signal"
_RISK_POINTS = ", ".join(f"{name}={points}" for name, points in RISK_SCORES.items())
RECORDS_MAX = 20  # earlier events handed to a rule (newest kept)
KEEP_MAX = 1000  # events remembered per key for Sequence, Join and Recent
_SEP = "\x1f"
_NO_MATCH = Match()


# KEYS: the entity's risk set (member: rule and severity, score: last seen), its titles hash.
# ARGV: member, time, window, title, threshold, minimum rules.
# Returns {0} when nothing new or under the threshold, else {1, total, member, score, title...}.
_RISK = """
local ts, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
local fresh = (not old) or tonumber(old) <= ts - window
redis.call('ZADD', KEYS[1], 'GT', ts, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (ts - window))
redis.call('EXPIRE', KEYS[1], window * 2 + 60)
redis.call('EXPIRE', KEYS[2], window * 2 + 60)
if not fresh then return {0} end
local points = {%s}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (ts - window), '+inf', 'WITHSCORES')
local best, rules, total = {}, 0, 0
for i = 1, #members, 2 do
  local m = members[i]
  local cut = string.find(m, string.char(31), 1, true)
  local rule, p = string.sub(m, 1, cut - 1), points[string.sub(m, cut + 1)] or 0
  if best[rule] == nil then
    best[rule], rules, total = p, rules + 1, total + p
  elseif p > best[rule] then
    total, best[rule] = total + p - best[rule], p
  end
end
if total < tonumber(ARGV[5]) or rules < tonumber(ARGV[6]) then return {0} end
local out = {1, total}
for i = 1, #members, 2 do
  out[#out + 1] = members[i]
  out[#out + 1] = members[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], members[i]) or ''
end
return out
"""


class SlidingWindow:
    """Count events per key within a time window (event time), in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @staticmethod
    def queue(pipe: Any, rule_id: str, value: str, member: str, timestamp: float,
              window_s: int) -> None:
        """Queue the four commands of :meth:`add` on ``pipe``; the third result is the count."""
        key = f"soc:win:{rule_id}:{value}"
        pipe.zadd(key, {member: timestamp})
        pipe.zremrangebyscore(key, "-inf", f"({timestamp - window_s}")
        pipe.zcount(key, f"({timestamp - window_s}", timestamp)
        pipe.expire(key, window_s * 2 + 60)

    def add(self, rule_id: str, value: str, member: str, timestamp: float, window_s: int) -> int:
        """Record one event and return how many fall in ``(timestamp - window_s, timestamp]``.

        Events older than the window are trimmed only relative to the newest seen, so events
        arriving slightly out of order still count.
        """
        pipe = self.client.pipeline(transaction=True)
        self.queue(pipe, rule_id, value, member, timestamp, window_s)
        return int(pipe.execute()[2])


def _record(event_id: str, context: Mapping[str, Any]) -> str:
    return event_id + _SEP + json.dumps(dict(context), sort_keys=True, default=str)


def _records(raw: Sequence[tuple[bytes | str, float]], skip: str = "") -> tuple[dict, ...]:
    out = []
    for member, score in raw:
        text = member.decode() if isinstance(member, bytes) else member
        event_id, _, payload = text.partition(_SEP)
        if event_id == skip:
            continue
        record = json.loads(payload) if payload else {}
        record["@t"] = float(score)
        record["event.id"] = event_id
        out.append(record)
    return tuple(out)


@dataclass
class _Pending:
    """One stateful match waiting for its pipeline results."""

    index: int
    rule: Rule
    event: Event
    match: Match
    key: str
    timestamp: float
    start: int
    size: int
    decode: Callable[[list[Any]], State | None]


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
        detection = self.context.detection
        risk = {name: getattr(detection, f"risk_{name}") for name in ("threshold", "window_s")
                if f"risk_{name}" in detection.model_fields_set}
        for rule_id, rule in rules.items():
            setting = overrides.get(rule_id)
            if setting and not setting.enabled:
                continue
            if isinstance(rule.state, Risk) and risk:  # detection.risk_* when set in the file
                rule = replace(rule, state=replace(rule.state, **risk))
            self.rules[rule_id] = (rule.with_overrides(setting.severity, setting.params)
                                   if setting else rule)
        self.window = SlidingWindow(client)
        self._risk: Any = (client.register_script(_RISK % _RISK_POINTS) if any(
            isinstance(r.state, Risk) for r in self.rules.values()) else None)
        self._by_action: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        self._by_dataset: dict[str, list[Rule]] = defaultdict(list)
        for rule in self.rules.values():
            for dataset in rule.datasets:
                if rule.actions is None:
                    self._by_dataset[dataset].append(rule)
                else:
                    for action in rule.actions:
                        self._by_action[(dataset, action)].append(rule)
        # One list per (dataset, action) seen, built on first use: the hot path is one lookup.
        self._merged: dict[tuple[str, str], tuple[Rule, ...]] = {}
        self._has_signal_rules = any(SIGNAL_DATASET in r.datasets for r in self.rules.values())
        self.errors: dict[str, int] = defaultdict(int)

    # -- dispatch -------------------------------------------------------------------------

    def candidates(self, event: Event) -> tuple[Rule, ...]:
        """The rules that can match this event's dataset and action."""
        pair = (event.get("event.dataset", ""), event.get("event.action", ""))
        found = self._merged.get(pair)
        if found is None:
            found = self._merged[pair] = tuple(
                self._by_action.get(pair, []) + self._by_dataset.get(pair[0], []))
        return found

    def call(self, rule: Rule, event: Event) -> Match | None:
        """Run one rule's function on one event; a rule that raises is logged and not a match."""
        try:
            result = (rule.function(event, self.context) if rule.takes_context
                      else rule.function(event))
        except Exception:
            self.errors[rule.id] += 1
            log.exception("rule %s raised on event %s; treated as not matching",
                          rule.id, event.get("event.id"))
            return None
        if not result:
            return None
        return result if isinstance(result, Match) else _NO_MATCH

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
        """The signals of each event, in order; stateful rules share one Redis round trip."""
        out: list[list[Signal]] = [[] for _ in events]
        pending: list[_Pending] = []
        pipe: Any = None
        for index, event in enumerate(events):
            timestamp: float | None = None
            for rule in self.candidates(event):
                match = self.call(rule, event)
                if match is None:
                    continue
                if rule.state is None:
                    signal = self._signal(rule, event, match, None, None)
                    if signal is not None:
                        out[index].append(signal)
                    continue
                if timestamp is None:
                    timestamp = epoch(event)
                if pipe is None:
                    pipe = self.client.pipeline(transaction=False)
                self._queue(pipe, pending, index, rule, event, match, timestamp)
        if pending:
            self._finish(pipe, pending, out)
        if self._has_signal_rules:
            self._signal_rules(events, out)
        return out

    def _signal_rules(self, events: Sequence[Event], out: list[list[Signal]]) -> None:
        derived = [[signal_event(s, event) for s in signals if s.dataset != SIGNAL_DATASET]
                   for event, signals in zip(events, out, strict=True)]
        flat = [(i, e) for i, evs in enumerate(derived) for e in evs]
        if not flat:
            return
        more = self.evaluate_batch([e for _, e in flat])
        for (i, _), signals in zip(flat, more, strict=True):
            out[i].extend(signals)

    def _queue(self, pipe: Any, pending: list[_Pending], index: int, rule: Rule, event: Event,
               match: Match, timestamp: float) -> None:
        spec = rule.state
        keys: tuple[str, ...]
        if match.key is not None:
            keys = (match.key,) if isinstance(match.key, str) else tuple(match.key)
        else:
            by = rule.state_key_field
            value = event.get(by) if by else None
            if value in (None, ""):
                return
            keys = (str(value),)
        event_id = str(event.get("event.id", ""))
        for key in keys:
            if not key:
                continue
            start = len(pipe)
            decode = self._queue_state(pipe, rule, spec, event, match, key, event_id, timestamp)
            if decode is None:
                continue
            pending.append(_Pending(index, rule, event, match, key, timestamp, start,
                                    len(pipe) - start, decode))

    def _queue_state(self, pipe: Any, rule: Rule, spec: Any, event: Event, match: Match,
                     key: str, event_id: str, ts: float
                     ) -> Callable[[list[Any]], State | None] | None:
        base = f"soc:st:{rule.id}:{key}"
        if isinstance(spec, Threshold):
            SlidingWindow.queue(pipe, rule.id, key, event_id, ts, spec.window_s)
            need = spec.count
            return lambda r: State(count=int(r[2])) if int(r[2]) >= need else None
        if isinstance(spec, Distinct):
            value = match.value if match.value is not None else event.get(spec.field)
            if value in (None, ""):
                return None
            k = base + ":distinct"
            values = value if isinstance(value, tuple) else (value,)
            pipe.zadd(k, {str(v): ts for v in values}, gt=True)
            pipe.zremrangebyscore(k, "-inf", f"({ts - spec.window_s}")
            pipe.zcount(k, f"({ts - spec.window_s}", "+inf")
            pipe.expire(k, spec.window_s * 2 + 60)
            need = spec.count
            return lambda r: State(count=int(r[2])) if int(r[2]) >= need else None
        if isinstance(spec, FirstSeen):
            value = match.value if match.value is not None else event.get(spec.field)
            if isinstance(value, tuple):
                value = value[0] if value else None
            if value in (None, ""):
                return None
            k = base + ":seen"
            # The first event that brought a value owns it: a redelivery of that event still
            # finds itself the owner, so the verdict is the same on every delivery.
            pipe.hsetnx(k, str(value), event_id)
            pipe.hget(k, str(value))
            pipe.hlen(k)
            pipe.expire(k, spec.ttl_s)
            history = spec.require_history

            def first(r: list[Any]) -> State | None:
                owner = r[1].decode() if isinstance(r[1], bytes) else r[1]
                new = owner == event_id and (not history or int(r[2]) > 1)
                return State(count=int(r[2]), new=True) if new else None
            return first
        if isinstance(spec, SequenceSpec):
            k = base + ":seq"
            if match.step == "first":
                pipe.zadd(k, {_record(event_id, match.context): ts})
                pipe.zremrangebyscore(k, "-inf", f"({ts - spec.within_s * 2}")
                pipe.zremrangebyrank(k, 0, -KEEP_MAX - 1)
                pipe.expire(k, spec.within_s * 2 + 60)
                return lambda r: None
            pipe.zcount(k, f"({ts - spec.within_s}", ts)
            pipe.zrevrangebyscore(k, ts, f"({ts - spec.within_s}", start=0, num=RECORDS_MAX,
                                  withscores=True)
            need = spec.count

            def then(r: list[Any]) -> State | None:
                if int(r[0]) < need:
                    return None
                return State(count=int(r[0]), records=_records(r[1][::-1]))
            return then
        if isinstance(spec, Join):
            side = match.step or spec.sides[0]
            if side not in spec.sides:
                raise ValueError(f"rule {rule.id}: step {side!r} is not one of {spec.sides}")
            own = f"{base}:join:{side}"
            pipe.zadd(own, {_record(event_id, match.context): ts})
            pipe.zremrangebyscore(own, "-inf", f"({ts - spec.within_s * 2}")
            pipe.zremrangebyrank(own, 0, -KEEP_MAX - 1)
            pipe.expire(own, spec.within_s * 2 + 60)
            others = [s for s in spec.sides if s != side]
            for other in others:
                pipe.zrangebyscore(f"{base}:join:{other}", ts - spec.within_s,
                                   ts + spec.within_s, start=0, num=RECORDS_MAX,
                                   withscores=True)

            def joined(r: list[Any]) -> State | None:
                records = tuple(rec for part in r[4:] for rec in _records(part))
                return State(count=len(records), records=records) if records else None
            return joined
        if isinstance(spec, Recent):
            k = base + ":recent"
            pipe.zrevrangebyscore(k, ts, f"({ts - spec.within_s}", start=0, num=RECORDS_MAX,
                                  withscores=True)
            pipe.zadd(k, {_record(event_id, match.context): ts})
            pipe.zremrangebyscore(k, "-inf", f"({ts - spec.within_s * 2}")
            pipe.zremrangebyrank(k, 0, -KEEP_MAX - 1)
            pipe.expire(k, spec.within_s * 2 + 60)
            return lambda r: State(records=_records(r[0][::-1], skip=event_id))
        if isinstance(spec, Risk):
            # One member per rule and severity (bounded), its latest title in a hash beside;
            # the sum runs in Redis and answers only when this signal brought new evidence
            # (a rule, or a higher severity of one) and the entity is over the threshold.
            k = base + ":risk"
            member = f"{event.get('event.action', '')}{_SEP}{event.get('signal.severity', 'info')}"
            self._risk(keys=[k, k + ":titles"],
                       args=[member, ts, spec.window_s, str(event.get("signal.title", ""))[:200],
                             spec.threshold, spec.min_rules], client=pipe)
            return lambda r: _risk_state(r[0])
        raise TypeError(f"rule {rule.id}: unknown state {spec!r}")

    def _finish(self, pipe: Any, pending: list[_Pending], out: list[list[Signal]]) -> None:
        results = pipe.execute()
        for item in pending:
            try:
                state = item.decode(results[item.start:item.start + item.size])
            except (ValueError, TypeError, redis.RedisError):
                log.exception("state of rule %s for key %r could not be read",
                              item.rule.id, item.key)
                continue
            if state is None:
                continue
            state = replace(state, key=item.key)
            match = item.match
            if item.rule.confirm is not None:
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
            signal = self._signal(item.rule, item.event, match, state, item.key)
            if signal is not None:
                out[item.index].append(signal)

    def stateful_signal(self, rule: Rule, event: Event, match: Match) -> list[Signal]:
        """One stateful match evaluated on its own (one round trip): the naive path."""
        out: list[list[Signal]] = [[]]
        pending: list[_Pending] = []
        pipe = self.client.pipeline(transaction=False)
        self._queue(pipe, pending, 0, rule, event, match, epoch(event))
        if pending:
            self._finish(pipe, pending, out)
        return out[0]

    def _signal(self, rule: Rule, event: Event, match: Match, state: State | None,
                key: str | None) -> Signal | None:
        event_id = str(event["event.id"])
        spec = rule.state
        key_field = rule.dedup_by or rule.state_key_field
        key_value = key if key is not None else (
            str(event.get(key_field, "")) if key_field else "")
        dedup = match.dedup or key_value or event_id
        entity = dict(match.entity) if match.entity else {
            "type": rule.entity_type or (key_field or "event"),
            "value": key_value or event_id,
        }
        context: dict[str, Any] = {name: event[name] for name in CONTEXT_FIELDS if name in event}
        context.update(match.context)
        count = 1
        if state is not None:
            if isinstance(spec, Threshold):
                count = state.count
                context["window"] = f"{state.count} in {spec.window_s}s"
            elif isinstance(spec, Distinct):
                count = state.count
                context["distinct"] = f"{state.count} {spec.field} in {spec.window_s}s"
            elif isinstance(spec, SequenceSpec):
                context["after"] = f"{state.count} earlier within {spec.within_s}s"
            elif isinstance(spec, Risk):
                context["risk_score"] = state.count
                context["signals"] = "; ".join(
                    f"{r['rule']} ({r['severity']}): {r['title']}" for r in state.records)
        severity = match.severity or rule.severity
        if severity not in SEVERITIES:
            log.error("rule %s gave unknown severity %r; using %s", rule.id, severity,
                      rule.severity)
            severity = rule.severity
        return Signal(
            rule_id=rule.id, title=match.title or render(rule.title, event),
            severity=severity, dedup_key=dedup, entity=entity,
            event_ids=[event_id], timestamp=epoch(event),
            dataset=str(event.get("event.dataset", "")), window_s=rule.dedup_window_s,
            count=count, mitre=list(rule.mitre), runbook=rule.runbook, context=context,
            playbooks=list(match.playbooks if match.playbooks is not None else rule.playbooks),
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _risk_state(raw: Sequence[Any]) -> State | None:
    if not raw or int(raw[0]) == 0:
        return None
    best: dict[str, dict[str, Any]] = {}
    for i in range(2, len(raw), 3):
        member, score, title = _text(raw[i]), float(raw[i + 1]), _text(raw[i + 2])
        rule_id, _, severity = member.partition(_SEP)
        points = RISK_SCORES.get(severity, 0)
        known = best.get(rule_id)
        if known is None or points > known["points"]:
            best[rule_id] = {"rule": rule_id, "severity": severity, "title": title,
                             "points": points, "@t": float(score)}
    total = sum(item["points"] for item in best.values())
    records = tuple(sorted(best.values(), key=lambda r: (-r["points"], r["@t"])))
    return State(count=total, records=records)


def signal_event(signal: Signal, event: Event) -> Event:
    """A signal as an event of the ``signal`` dataset, for the entity-risk rules."""
    derived: Event = {name: value for name, value in signal.context.items()
                      if isinstance(value, str | int | float)}
    derived.update({
        "@timestamp": event.get("@timestamp") or format_timestamp_epoch(signal.timestamp),
        "event.id": signal.id, "event.dataset": SIGNAL_DATASET, "event.action": signal.rule_id,
        "event.outcome": "unknown", "signal.severity": signal.severity,
        "signal.title": signal.title, "signal.dataset": signal.dataset,
        "signal.entity.type": signal.entity.get("type", ""),
        "signal.entity.value": signal.entity.get("value", ""),
    })
    return derived


def format_timestamp_epoch(seconds: float) -> str:
    """``@timestamp`` text for an epoch time."""
    from datetime import UTC, datetime

    return format_timestamp(datetime.fromtimestamp(seconds, UTC))
