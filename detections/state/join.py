"""Join: two sides (often two sources) that meet on one key within ``within_s``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from socbot.detections.state.base import (
    KEEP_MAX,
    MEMO_MAX,
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
    Events of a side in ``sparse`` are written (and look for the other sides) at most once
    per key and context every tenth of ``within_s``; the others are skipped: a side that is
    most of the traffic (every call of a person) costs a Redis operation only now and then.
    """

    code = "J"

    within_s: int
    sides: tuple[str, ...] = ("a", "b")
    sparse: tuple[str, ...] = ()

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        side = match.step or self.sides[0]
        if side not in self.sides:
            raise ValueError(f"rule {rule_id}: step {side!r} is not one of {self.sides}")
        others = [state_key(rule_id, key, f"join:{s}") for s in self.sides if s != side]
        own = state_key(rule_id, key, f"join:{side}")
        if side in self.sparse:
            remembered = (own, json.dumps(dict(match.context), sort_keys=True, default=str))
            seen = memo.get(remembered)
            if seen is not None and seen <= ts < seen + self.within_s / 10:
                return None
            if len(memo) > MEMO_MAX:
                memo.clear()
            memo[remembered] = ts
        return Planned(["J", own, record(event_id, match.context), ts, self.within_s, KEEP_MAX,
                        RECORDS_MAX, others])

    def decode(self, reply: object, planned: Planned) -> State | None:
        found = records(pairs(reply))
        return State(count=len(found), records=found) if found else None
