"""Join: two sides (often two sources) that meet on one key within ``within_s``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from socbot.detections.state.base import (
    KEEP_MAX,
    RECORDS_MAX,
    Memo,
    Planned,
    State,
    StateKind,
    pairs,
    record,
    records,
    state_key,
)
from socbot.detections.state.registry import register

if TYPE_CHECKING:
    from socbot.core.events import Event
    from socbot.detections.rule import Match


@register
@dataclass(frozen=True)
class Join(StateKind):
    """Fire when events of different ``sides`` meet on one key within ``within_s``, either order.

    The rule's function names the side and the key: ``Match(step=<side>, key=<entity>)``.
    """

    code = "J"

    within_s: int
    sides: tuple[str, ...] = ("a", "b")

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        side = match.step or self.sides[0]
        if side not in self.sides:
            raise ValueError(f"rule {rule_id}: step {side!r} is not one of {self.sides}")
        others = [state_key(rule_id, key, f"join:{s}") for s in self.sides if s != side]
        return Planned(["J", state_key(rule_id, key, f"join:{side}"),
                        record(event_id, match.context), ts, self.within_s, KEEP_MAX,
                        RECORDS_MAX, others])

    def decode(self, reply: object, planned: Planned) -> State | None:
        found = records(pairs(reply))
        return State(count=len(found), records=found) if found else None
