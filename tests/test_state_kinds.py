"""Rule state kinds: one class and one Lua step each, found by the registry, joined once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis

from socbot.core.events import Event
from socbot.detections.engine import Engine
from socbot.detections.rule import Match, Rule, Threshold, load_all
from socbot.detections.state.base import Memo, Planned, State, StateKind
from socbot.detections.state.registry import (
    RegistryError,
    StateRegistry,
    all_kinds,
    lua_of,
    script,
)

BUILTIN = {"Threshold", "Distinct", "FirstSeen", "Sequence", "Join", "Recent", "Risk"}


def test_the_registry_finds_every_builtin_kind_with_its_lua_step() -> None:
    kinds = all_kinds()
    assert {cls.__name__ for cls in kinds} == BUILTIN
    assert len({cls.code for cls in kinds}) == len(kinds)
    for cls in kinds:
        assert f"ops.{cls.code} = function(op)" in lua_of(cls)
        assert f"ops.{cls.code} = function(op)" in script()


def test_the_script_is_built_once() -> None:
    assert script() is script()


def test_every_stateful_rule_declares_a_registered_kind() -> None:
    registered = tuple(all_kinds())
    stateful = [r for r in load_all().values() if r.state is not None]
    assert stateful
    assert all(isinstance(r.state, registered) for r in stateful)


def test_rules_list_text_comes_from_the_kind() -> None:
    kind = Threshold(by="source.ip", count=8, window_s=120)
    assert kind.describe() == "Threshold(by=source.ip, count=8, window_s=120)"
    assert kind.key_field == "source.ip"


def test_params_are_checked_by_the_kind() -> None:
    kind = Threshold(by="source.ip", count=8, window_s=120)
    assert kind.with_params("r", {"count": 3}).count == 3
    with pytest.raises(ValueError, match=r"unknown params \['by'\]"):
        kind.with_params("r", {"by": "user.name"})
    with pytest.raises(ValueError, match="positive whole number"):
        kind.with_params("r", {"count": 0})


@dataclass(frozen=True)
class _NoLua(StateKind):
    """A kind whose Lua step is missing."""

    code = "ZZ"

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        return None

    def decode(self, reply: object, planned: Planned) -> State | None:
        return None


def test_a_kind_without_its_lua_file_is_refused_at_registration() -> None:
    with pytest.raises(RegistryError, match="no Lua file test_state_kinds.lua"):
        StateRegistry().register(_NoLua)


def test_two_kinds_cannot_share_a_code() -> None:
    registry = StateRegistry()
    registry.register(Threshold)

    @dataclass(frozen=True)
    class Other(Threshold):
        """Another kind claiming T."""

    with pytest.raises(RegistryError, match="state code 'T' is taken"):
        registry.register(Other)


def test_a_kind_plans_decodes_and_annotates_through_the_engine(
        redis_client: redis.Redis) -> None:
    seen: list[tuple[str, str]] = []

    @dataclass(frozen=True)
    class Counting(Threshold):
        """Threshold that records what the engine asked of it."""

        def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
                 ts: float, memo: Memo) -> Planned | None:
            seen.append((rule_id, key))
            return super().plan(rule_id, key, event, match, event_id, ts, memo)

    rule = Rule(id="test.counting", title="t", severity="low", datasets=("secure",),
                function=lambda e: True, state=Counting(by="source.ip", count=2, window_s=60))
    engine = Engine(redis_client, {rule.id: rule})
    events: list[Event] = [{"@timestamp": f"2026-11-23T03:00:0{n}Z", "event.id": f"c{n}",
               "event.dataset": "secure", "event.action": "x", "source.ip": "192.0.2.9"}
              for n in range(2)]
    signals = engine.evaluate_batch(events)
    assert seen == [("test.counting", "192.0.2.9")] * 2
    assert [len(s) for s in signals] == [0, 1]
    assert signals[1][0].context["window"] == "2 in 60s"
