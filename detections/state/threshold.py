"""Threshold: ``count`` matching events for one key within ``window_s`` (a sliding count)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from socbot.detections.state.base import Memo, Planned, State, StateKind, as_int, as_list
from socbot.detections.state.registry import register

if TYPE_CHECKING:
    from socbot.core.events import Event
    from socbot.detections.rule import Match


WEIGHT_MAX = 1000  # members one event may stand for


@register
@dataclass(frozen=True)
class Threshold(StateKind):
    """Fire once ``count`` matching events share the value of ``by`` within ``window_s``
    (an event counts ``Match.weight`` times)."""

    code = "T"

    by: str
    count: int
    window_s: int

    @property
    def key_field(self) -> str | None:
        return self.by

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        # A weighted match is counted as that many members (event_id, event_id#2, ...), so a
        # redelivery still adds nothing.
        weight = max(1, min(match.weight or 1, WEIGHT_MAX))
        return Planned(["T", f"soc:win:{rule_id}:{key}", event_id, ts, self.window_s, weight])

    def decode(self, reply: object, planned: Planned) -> State | None:
        count = as_int(as_list(reply)[0])
        return State(count=count) if count >= self.count else None

    def annotate(self, state: State, context: dict[str, Any]) -> int:
        context["window"] = f"{state.count} in {self.window_s}s"
        return state.count
