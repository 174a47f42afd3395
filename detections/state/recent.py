"""Recent: the earlier matching events of one key, handed to the rule's ``confirm``."""

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
class Recent(StateKind):
    """Hand the rule's ``confirm`` the earlier matches of one key within ``within_s``."""

    code = "R"

    by: str
    within_s: int

    @property
    def key_field(self) -> str | None:
        return self.by

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        return Planned(["R", state_key(rule_id, key, "recent"), record(event_id, match.context),
                        ts, self.within_s, KEEP_MAX, RECORDS_MAX], event_id=event_id)

    def decode(self, reply: object, planned: Planned) -> State | None:
        # A redelivered event finds itself among the earlier ones: leave it out.
        return State(records=records(pairs(reply)[::-1], skip=planned.event_id))
