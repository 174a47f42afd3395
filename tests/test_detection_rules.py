"""Every rule's own test cases, run through the real engine on a real Redis."""

from __future__ import annotations

import pytest
import redis

from socbot.bot.cli.detection import case_events
from socbot.core.config import Settings
from socbot.detections.engine import Engine
from socbot.detections.rule import REGISTRY, Case, Rule, load_all

RULES = load_all()
CASES = [(rule, case) for rule in RULES.values() for case in rule.tests]


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    for rule in RULES.values():
        outcomes = {case.fires for case in rule.tests}
        assert outcomes == {True, False}, f"{rule.id} needs a firing and a non-firing test case"


def test_every_rule_has_metadata_people_need() -> None:
    for rule in RULES.values():
        assert rule.description, f"{rule.id} has no docstring"
        assert rule.title and rule.runbook and rule.mitre, rule.id
        source = rule.id.split(".")[0]
        assert source in rule.datasets or source == "correlation", rule.id


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{r.id}: {c.name}" for r, c in CASES])
def test_rule_case(rule: Rule, case: Case, redis_client: redis.Redis) -> None:
    engine = Engine(redis_client, {rule.id: rule}, settings=Settings.model_validate(case.config))
    fired = [any(s.rule_id == rule.id for s in engine.evaluate(event))
             for event in case_events(case)]
    assert fired[-1] is case.fires
    assert not any(fired[:-1]), "only the last event of a case may fire"


def test_registry_is_populated() -> None:
    assert {"secure.ssh_brute_force", "cloudtrail.sg_open_to_world"} <= set(REGISTRY)
