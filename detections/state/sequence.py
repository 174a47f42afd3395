"""Sequence: B after at least ``count`` A events for one key within ``within_s``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from socbot.detections.state.base import (
    KEEP_MAX,
    RECORDS_MAX,
    Memo,
    Planned,
    State,
    StateKind,
    as_int,
    as_list,
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
class Sequence(StateKind):
    """Fire on B after at least ``count`` A events (``step="first"``) within ``within_s``.

    The rule's function marks A events with ``Match(step="first")``; any other match is B.
    """

    code = "S"
    foldable = True

    by: str
    within_s: int
    count: int = 1

    @property
    def key_field(self) -> str | None:
        return self.by

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        k = state_key(rule_id, key, "seq")
        if match.step == "first":
            return Planned(["S", k, "first", record(event_id, match.context), ts,
                            self.within_s, KEEP_MAX], step="first")
        return Planned(["S", k, "then", ts, self.within_s, RECORDS_MAX], step="then")

    def decode(self, reply: object, planned: Planned) -> State | None:
        if planned.step == "first":
            return None
        found = as_list(reply)
        count = as_int(found[0])
        if count < self.count:
            return None
        return State(count=count, records=records(pairs(found[1])[::-1]))

    def annotate(self, state: State, context: dict[str, Any]) -> int:
        context["after"] = f"{state.count} earlier within {self.within_s}s"
        return 1
