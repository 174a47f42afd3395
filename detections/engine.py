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

from socbot.core.alerts import SEVERITIES, Signal
from socbot.core.config import RuleSettings, Settings
from socbot.core.events import Event, epoch
from socbot.detections.context import RuleContext
from socbot.detections.rule import (
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
from socbot.detections.rule import Sequence as SequenceSpec

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
RISK_CACHE_MAX = 100_000  # (entity, rule) pairs a worker remembers having sent recently
_SEP = "\x1f"
_SCALARS = (str, int, float)
_NO_MATCH = Match()


# Every stateful operation of one batch of events, run in order in one call (one round trip,
# one command to encode and one reply to parse, however many rules matched). ARGV[1] is a JSON
# list of operations; the reply has one entry per operation:
#   T key member t window                     -> {events in (t - window, t]}   (sliding count)
#   D key t window [values]                   -> {distinct values in window}
#   F key value owner ttl                     -> {1 if owner brought value first, values known}
#   SA key record t within keep               -> {}                            (sequence: A)
#   SB key t within limit                     -> {A events in window, {newest records}}
#   J key record t within keep limit [others] -> {records of the other sides within +-within}
#   R key record t within keep limit          -> {newest earlier records}, then records this one
#   K key member t window title threshold min -> {0}; on the first crossing in a window
#                                                {1, total, member, score, title, ...}; after
#                                                it {2, total, rules} (the alert has the list)
# Records are "<event id>\x1f<json context>" members scored by event time.
_STATE = """
local function trim(key, t, within, keep)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - within * 2))
  redis.call('ZREMRANGEBYRANK', key, 0, -keep - 1)
  redis.call('EXPIRE', key, math.floor(within * 2 + 60))
end
local points = {%s}
local out = {}
for i, op in ipairs(cjson.decode(ARGV[1])) do
  local kind, key = op[1], op[2]
  if kind == 'T' then
    local t, window = op[4], op[5]
    redis.call('ZADD', key, t, op[3])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - window))
    out[i] = {redis.call('ZCOUNT', key, '(' .. (t - window), t)}
    redis.call('EXPIRE', key, math.floor(window * 2 + 60))
  elseif kind == 'D' then
    local t, window = op[3], op[4]
    for _, value in ipairs(op[5]) do redis.call('ZADD', key, 'GT', t, value) end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - window))
    out[i] = {redis.call('ZCOUNT', key, '(' .. (t - window), '+inf')}
    redis.call('EXPIRE', key, math.floor(window * 2 + 60))
  elseif kind == 'F' then
    redis.call('HSETNX', key, op[3], op[4])
    local owner = redis.call('HGET', key, op[3])
    out[i] = {owner == op[4] and 1 or 0, redis.call('HLEN', key)}
    redis.call('EXPIRE', key, math.floor(op[5]))
  elseif kind == 'SA' then
    redis.call('ZADD', key, op[4], op[3])
    trim(key, op[4], op[5], op[6])
    out[i] = {}
  elseif kind == 'SB' then
    local t, within = op[3], op[4]
    out[i] = {redis.call('ZCOUNT', key, '(' .. (t - within), t),
              redis.call('ZREVRANGEBYSCORE', key, t, '(' .. (t - within), 'WITHSCORES',
                         'LIMIT', 0, op[5])}
  elseif kind == 'J' then
    local t, within = op[4], op[5]
    redis.call('ZADD', key, t, op[3])
    trim(key, t, within, op[6])
    local found = {}
    for _, other in ipairs(op[8]) do
      local got = redis.call('ZRANGEBYSCORE', other, t - within, t + within, 'WITHSCORES',
                             'LIMIT', 0, op[7])
      for _, v in ipairs(got) do found[#found + 1] = v end
    end
    out[i] = found
  elseif kind == 'R' then
    local t, within = op[4], op[5]
    out[i] = redis.call('ZREVRANGEBYSCORE', key, t, '(' .. (t - within), 'WITHSCORES',
                        'LIMIT', 0, op[7])
    redis.call('ZADD', key, t, op[3])
    trim(key, t, within, op[6])
  elseif kind == 'K' then
    local member, t, window = op[3], op[4], op[5]
    local titles = key .. ':titles'
    local old = redis.call('ZSCORE', key, member)
    local fresh = (not old) or tonumber(old) <= t - window
    redis.call('ZADD', key, 'GT', t, member)
    redis.call('HSET', titles, member, op[6])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (t - window))
    redis.call('EXPIRE', key, math.floor(window * 2 + 60))
    redis.call('EXPIRE', titles, math.floor(window * 2 + 60))
    out[i] = {0}
    if fresh then
      local members = redis.call('ZRANGEBYSCORE', key, '(' .. (t - window), '+inf', 'WITHSCORES')
      local best, rules, total = {}, 0, 0
      for j = 1, #members, 2 do
        local m = members[j]
        local cut = string.find(m, string.char(31), 1, true)
        local rule, p = string.sub(m, 1, cut - 1), points[string.sub(m, cut + 1)] or 0
        if best[rule] == nil then
          best[rule], rules, total = p, rules + 1, total + p
        elseif p > best[rule] then
          total, best[rule] = total + p - best[rule], p
        end
      end
      local crossed = tonumber(redis.call('GET', key .. ':crossed') or '-1e18')
      if total >= op[7] and rules >= op[8] and t - crossed < window then
        out[i] = {2, total, rules}
      elseif total >= op[7] and rules >= op[8] then
        redis.call('SET', key .. ':crossed', t, 'EX', math.floor(window * 2 + 60))
        local reply = {1, total}
        for j = 1, #members, 2 do
          reply[#reply + 1] = members[j]
          reply[#reply + 1] = members[j + 1]
          reply[#reply + 1] = redis.call('HGET', titles, members[j]) or ''
        end
        out[i] = reply
      end
    end
  else
    return redis.error_reply('unknown state operation ' .. tostring(kind))
  end
end
return out
"""


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
    op: list[Any]
    decode: Callable[[Any], State | None]


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
        self._risk_sent: dict[tuple[str, str], float] = {}
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
                    timestamp = _epoch(event)
                self._queue(pending, index, rule, event, match, timestamp)
        if pending:
            self._finish(pending, out)
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

    def _queue(self, pending: list[_Pending], index: int, rule: Rule, event: Event,
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
            planned = self._plan(rule, spec, event, match, key, event_id, timestamp)
            if planned is not None:
                op, decode = planned
                pending.append(_Pending(index, rule, event, match, key, timestamp, op, decode))

    def _plan(self, rule: Rule, spec: Any, event: Event, match: Match, key: str,
              event_id: str, ts: float
              ) -> tuple[list[Any], Callable[[Any], State | None]] | None:
        """The state operation for one match (see ``_STATE``) and how to read its answer."""
        base = f"soc:st:{rule.id}:{key}"
        if isinstance(spec, Threshold):
            need = spec.count
            return (["T", f"soc:win:{rule.id}:{key}", event_id, ts, spec.window_s],
                    lambda r: State(count=int(r[0])) if int(r[0]) >= need else None)
        if isinstance(spec, Distinct):
            value = match.value if match.value is not None else event.get(spec.field)
            if value in (None, ""):
                return None
            values = [str(v) for v in (value if isinstance(value, tuple) else (value,))]
            need = spec.count
            return (["D", base + ":distinct", ts, spec.window_s, values],
                    lambda r: State(count=int(r[0])) if int(r[0]) >= need else None)
        if isinstance(spec, FirstSeen):
            value = match.value if match.value is not None else event.get(spec.field)
            if isinstance(value, tuple):
                value = value[0] if value else None
            if value in (None, ""):
                return None
            # The first event that brought a value owns it: a redelivery of that event still
            # finds itself the owner, so the verdict is the same on every delivery.
            history = spec.require_history

            def first(r: Any) -> State | None:
                new = int(r[0]) == 1 and (not history or int(r[1]) > 1)
                return State(count=int(r[1]), new=True) if new else None
            return ["F", base + ":seen", str(value), event_id, spec.ttl_s], first
        if isinstance(spec, SequenceSpec):
            k = base + ":seq"
            if match.step == "first":
                return (["SA", k, _record(event_id, match.context), ts, spec.within_s, KEEP_MAX],
                        lambda r: None)
            need = spec.count

            def then(r: Any) -> State | None:
                if int(r[0]) < need:
                    return None
                return State(count=int(r[0]), records=_records(_pairs(r[1])[::-1]))
            return ["SB", k, ts, spec.within_s, RECORDS_MAX], then
        if isinstance(spec, Join):
            side = match.step or spec.sides[0]
            if side not in spec.sides:
                raise ValueError(f"rule {rule.id}: step {side!r} is not one of {spec.sides}")
            others = [f"{base}:join:{s}" for s in spec.sides if s != side]

            def joined(r: Any) -> State | None:
                records = _records(_pairs(r))
                return State(count=len(records), records=records) if records else None
            return (["J", f"{base}:join:{side}", _record(event_id, match.context), ts,
                     spec.within_s, KEEP_MAX, RECORDS_MAX, others], joined)
        if isinstance(spec, Recent):
            return (["R", base + ":recent", _record(event_id, match.context), ts,
                     spec.within_s, KEEP_MAX, RECORDS_MAX],
                    lambda r: State(records=_records(_pairs(r)[::-1], skip=event_id)))
        if isinstance(spec, Risk):
            # One member per rule and severity (bounded), its latest title in a hash beside;
            # the sum runs in Redis and answers only when this signal brought new evidence
            # (a rule, or a higher severity of one) and the entity is over the threshold.
            k = base + ":risk"
            member = f"{event.get('event.action', '')}{_SEP}{event.get('signal.severity', 'info')}"
            # A rule already counted for this entity moments ago brings nothing new; its
            # last-seen time is refreshed at most every tenth of the window.
            seen = self._risk_sent.get((k, member))
            if seen is not None and seen <= ts < seen + spec.window_s / 10:
                return None
            if len(self._risk_sent) > RISK_CACHE_MAX:
                self._risk_sent.clear()
            self._risk_sent[(k, member)] = ts
            return (["K", k, member, ts, spec.window_s, str(event.get("signal.title", ""))[:200],
                     spec.threshold, spec.min_rules], _risk_state)
        raise TypeError(f"rule {rule.id}: unknown state {spec!r}")

    def _finish(self, pending: list[_Pending], out: list[list[Signal]]) -> None:
        payload = json.dumps([item.op for item in pending], separators=(",", ":"))
        if self._state is None:
            self._state = self.client.register_script(_STATE % _RISK_POINTS)
        results = self._state(args=[payload])
        for item, result in zip(pending, results, strict=True):
            try:
                state = item.decode(result)
            except (ValueError, TypeError, IndexError):
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
        self._queue(pending, 0, rule, event, match, _epoch(event))
        if pending:
            self._finish(pending, out)
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
                if state.records:
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
            event_ids=[event_id], timestamp=_epoch(event),
            dataset=str(event.get("event.dataset", "")), window_s=rule.dedup_window_s,
            count=count, mitre=list(rule.mitre), runbook=rule.runbook, context=context,
            playbooks=list(match.playbooks if match.playbooks is not None else rule.playbooks),
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_EPOCHS: dict[str, float] = {}


def _epoch(event: Event) -> float:
    """``epoch(event)``, remembered per timestamp text (events of one second share it)."""
    text = event["@timestamp"]
    found = _EPOCHS.get(text)
    if found is None:
        if len(_EPOCHS) > 50_000:
            _EPOCHS.clear()
        found = _EPOCHS[text] = epoch(event)
    return found


def _pairs(flat: Sequence[Any]) -> list[tuple[Any, float]]:
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)]


def _risk_state(raw: Sequence[Any]) -> State | None:
    if not raw or int(raw[0]) == 0:
        return None
    if int(raw[0]) == 2:  # crossed before in this window: the alert already lists them
        return State(count=int(raw[1]))
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
    """A signal as an event of the ``signal`` dataset (at the time of ``event``, the event it
    came from), for the entity-risk rules."""
    derived: Event = {name: value for name, value in signal.context.items()
                      if isinstance(value, _SCALARS)}
    derived.update({
        "@timestamp": event["@timestamp"],
        "event.id": signal.id, "event.dataset": SIGNAL_DATASET, "event.action": signal.rule_id,
        "event.outcome": "unknown", "signal.severity": signal.severity,
        "signal.title": signal.title, "signal.dataset": signal.dataset,
        "signal.entity.type": signal.entity.get("type", ""),
        "signal.entity.value": signal.entity.get("value", ""),
    })
    return derived

