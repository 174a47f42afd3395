"""Dispatch by outcome: a rule that declares ``outcomes`` is called on no other event.outcome.

The declaration only spares calls: each rule that declares outcomes must not match any event of
its own cases once that event's outcome is one it did not declare.
"""

from __future__ import annotations

import redis

from socbot.bot.cli.detection import case_events
from socbot.core.config import Settings
from socbot.core.events import OUTCOMES, Event, dumps
from socbot.detections.context import RuleContext
from socbot.detections.engine import Engine
from socbot.detections.rule import Rule, load_all
from socbot.detections.worker import DetectionWorker

RULES = load_all()


def login(outcome: str, n: int = 1) -> Event:
    return {"@timestamp": f"2026-11-23T03:00:{n:02d}Z", "event.id": f"d-{outcome}-{n}",
            "event.dataset": "secure", "event.action": "ssh_login", "event.outcome": outcome,
            "source.ip": "203.0.113.7", "user.name": "ann", "host.name": "web1"}


def test_declared_outcomes_leave_out_only_events_the_rule_cannot_match() -> None:
    declaring = [rule for rule in RULES.values() if rule.outcomes is not None]
    assert {"secure.root_login", "secure.new_source_for_user"} <= {r.id for r in declaring}
    checked = 0
    for rule in declaring:
        for case in rule.tests:
            context = RuleContext(Settings.model_validate(case.config))
            for event in case_events(case):
                for outcome in set(OUTCOMES) - set(rule.outcomes or ()):
                    moved = {**event, "event.outcome": outcome}
                    result = (rule.function(moved, context) if rule.takes_context
                              else rule.function(moved))
                    assert not result, (f"{rule.id} matches an event with outcome {outcome!r} "
                                        f"(case {case.name!r}) but declares {rule.outcomes}")
                    checked += 1
    assert checked > 20


def test_the_engine_calls_a_rule_only_on_its_declared_outcomes(
        redis_client: redis.Redis) -> None:
    calls: list[str] = []

    def accepted(event: Event) -> bool:
        calls.append(event["event.outcome"])
        return True

    rules = {"t.accepted": Rule(id="t.accepted", title="t", severity="low",
                                datasets=("secure",), function=accepted,
                                actions=("ssh_login",), outcomes=("success",)),
             "t.any": Rule(id="t.any", title="t", severity="low", datasets=("secure",),
                           function=lambda e: True, actions=("ssh_login",))}
    engine = Engine(redis_client, rules)
    found = engine.evaluate_batch([login("failure", 1), login("success", 2), login("unknown", 3)])
    assert calls == ["success"]
    assert [[s.rule_id for s in signals] for signals in found] == [
        ["t.any"], ["t.accepted", "t.any"], ["t.any"]]
    assert [r.id for r in engine.candidates(login("failure"))] == ["t.any"]


def test_outcomes_must_name_known_outcomes() -> None:
    from socbot.detections.rule import rule

    try:
        rule(id="t.bad", title="t", severity="low", datasets=("secure",),
             outcomes=("succeeded",))
    except ValueError as exc:
        assert "outcomes" in str(exc) and "success" in str(exc)
    else:
        raise AssertionError("an unknown outcome was accepted")


def test_an_event_whose_action_is_not_text_fails_alone(redis_client: redis.Redis) -> None:
    """A hostile entry cannot sink its batch: it fails (and is dead-lettered after its
    retries) while the others are evaluated."""
    worker = DetectionWorker(redis_client, Engine(redis_client, RULES))
    hostile = {**login("success", 2), "event.action": ["ssh_login"]}
    failures = worker.handle_batch([("1-0", {"e": dumps(login("failure", 1))}),
                                    ("2-0", {"e": dumps(hostile)}),
                                    ("3-0", {"e": dumps(login("success", 3))})])
    assert list(failures) == ["2-0"]
    assert "event.action must be text" in str(failures["2-0"])
    assert Engine(redis_client, RULES).candidates(hostile) == ()
