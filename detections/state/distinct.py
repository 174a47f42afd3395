"""Distinct: ``count`` distinct values of a field for one key within ``window_s``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from socbot.detections.state.base import (
    Memo,
    Planned,
    State,
    StateKind,
    as_int,
    as_list,
    state_key,
)
from socbot.detections.state.registry import register

if TYPE_CHECKING:
    from socbot.core.events import Event
    from socbot.detections.rule import Match


@register
@dataclass(frozen=True)
class Distinct(StateKind):
    """Fire once ``count`` distinct values of ``field`` share one ``by`` value in ``window_s``."""

    code = "D"
    foldable = True

    by: str
    field: str
    count: int
    window_s: int

    @property
    def key_field(self) -> str | None:
        return self.by

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        value = match.value if match.value is not None else event.get(self.field)
        if value in (None, ""):
            return None
        values = [str(v) for v in (value if isinstance(value, tuple) else (value,))]
        return Planned(["D", state_key(rule_id, key, "distinct"), ts, self.window_s, values])

    def decode(self, reply: object, planned: Planned) -> State | None:
        count = as_int(as_list(reply)[0])
        return State(count=count) if count >= self.count else None

    def annotate(self, state: State, context: dict[str, Any]) -> int:
        context["distinct"] = f"{state.count} {self.field} in {self.window_s}s"
        return state.count
