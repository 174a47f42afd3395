"""The detection engine: events in, signals out.

An event meets only the rules indexed under its dataset and action (the dispatch index), so the
cost of an event does not grow with the size of the rule pack. A rule that raises is logged with
its id and the event id and counted as not matching: one broken rule never stops the pipeline.
Threshold windows are sorted sets in Redis keyed by rule and value, shared by every worker, with
the event id as member so a redelivered event is never counted twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from core.alerts import Signal
from core.config import RuleSettings
from core.events import Event, epoch
from detections.rule import Match, Rule, render

log = logging.getLogger(__name__)

# Event fields copied into every signal's context when present: what people need to triage.
CONTEXT_FIELDS = ("source.ip", "user.name", "host.name", "cloud.account.id", "cloud.region",
                  "event.action", "event.outcome")


class SlidingWindow:
    """Count events per key within a time window (event time), in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def add(self, rule_id: str, value: str, member: str, timestamp: float, window_s: int) -> int:
        """Record one event and return how many fall in ``(timestamp - window_s, timestamp]``.

        Events older than the window are trimmed only relative to the newest seen, so events
        arriving slightly out of order still count.
        """
        key = f"soc:win:{rule_id}:{value}"
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(key, {member: timestamp})
        pipe.zremrangebyscore(key, "-inf", f"({timestamp - window_s}")
        pipe.zcount(key, f"({timestamp - window_s}", timestamp)
        pipe.expire(key, window_s * 2 + 60)
        return int(pipe.execute()[2])


class Engine:
    """Evaluate the rule pack on events."""

    def __init__(self, client: redis.Redis, rules: Mapping[str, Rule],
                 overrides: Mapping[str, RuleSettings] | None = None) -> None:
        overrides = overrides or {}
        unknown = sorted(set(overrides) - set(rules))
        if unknown:
            raise ValueError(f"rules: {unknown[0]!r} is not a rule id; "
                             f"known rules: {', '.join(sorted(rules))}")
        self.rules: dict[str, Rule] = {}
        for rule_id, rule in rules.items():
            setting = overrides.get(rule_id)
            if setting and not setting.enabled:
                continue
            self.rules[rule_id] = (rule.with_overrides(setting.severity, setting.params)
                                   if setting else rule)
        self.window = SlidingWindow(client)
        self._by_action: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        self._by_dataset: dict[str, list[Rule]] = defaultdict(list)
        for rule in self.rules.values():
            for dataset in rule.datasets:
                if rule.actions is None:
                    self._by_dataset[dataset].append(rule)
                else:
                    for action in rule.actions:
                        self._by_action[(dataset, action)].append(rule)
        self.errors: dict[str, int] = defaultdict(int)

    def candidates(self, event: Event) -> list[Rule]:
        """The rules that can match this event's dataset and action."""
        dataset = event.get("event.dataset", "")
        return (self._by_action.get((dataset, event.get("event.action", "")), [])
                + self._by_dataset.get(dataset, []))

    def evaluate(self, event: Event) -> list[Signal]:
        """Every signal this event raises."""
        signals = []
        for rule in self.candidates(event):
            try:
                result = rule.function(event)
            except Exception:
                self.errors[rule.id] += 1
                log.exception("rule %s raised on event %s; treated as not matching",
                              rule.id, event.get("event.id"))
                continue
            if not result:
                continue
            signal = self._signal(rule, event, result if isinstance(result, Match) else Match())
            if signal is not None:
                signals.append(signal)
        return signals

    def evaluate_all(self, events: Iterable[Event]) -> Iterable[tuple[Event, list[Signal]]]:
        """Evaluate a sequence of events, yielding each with its signals."""
        for event in events:
            yield event, self.evaluate(event)

    def _signal(self, rule: Rule, event: Event, match: Match) -> Signal | None:
        timestamp = epoch(event)
        event_id = str(event["event.id"])
        count = 1
        if rule.threshold is not None:
            value = event.get(rule.threshold.by)
            if value in (None, ""):
                return None
            count = self.window.add(rule.id, str(value), event_id, timestamp,
                                    rule.threshold.window_s)
            if count < rule.threshold.count:
                return None
        key_field = rule.dedup_by or (rule.threshold.by if rule.threshold else None)
        dedup = match.dedup or (str(event.get(key_field, "")) if key_field else "") or event_id
        entity = dict(match.entity) if match.entity else {
            "type": rule.entity_type or (key_field or "event"),
            "value": str(event.get(key_field, "")) if key_field else event_id,
        }
        context: dict[str, Any] = {name: event[name] for name in CONTEXT_FIELDS if name in event}
        context.update(match.context)
        if rule.threshold is not None:
            context["window"] = f"{count} in {rule.threshold.window_s}s"
        return Signal(
            rule_id=rule.id, title=match.title or render(rule.title, event),
            severity=match.severity or rule.severity, dedup_key=dedup, entity=entity,
            event_ids=[event_id], timestamp=timestamp,
            dataset=str(event.get("event.dataset", "")), window_s=rule.dedup_window_s,
            count=count, mitre=list(rule.mitre), runbook=rule.runbook, context=context,
            playbooks=list(match.playbooks if match.playbooks is not None else rule.playbooks),
        )
