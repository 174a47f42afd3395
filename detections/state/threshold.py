"""Threshold: ``count`` matching events for one key within ``window_s`` (a sliding count).

Exact when several workers share a storm: each event is counted by one signal only. The signal
that crosses the threshold stands for itself and the window's earlier events (``State.adds``);
every later event in a crossed window is a signal of its own, also when it arrives after the
crossing (another worker's batch, or out of order). A redelivered event gets its first answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from socbot.core.keys import rule_window
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
    foldable = True

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
        return Planned(["T", rule_window(rule_id, key), event_id, ts, self.window_s, weight,
                        self.count])

    def decode(self, reply: object, planned: Planned) -> State | None:
        found = as_list(reply)
        stands = as_int(found[1])
        return State(count=as_int(found[0]), adds=stands) if stands > 0 else None

    def annotate(self, state: State, context: dict[str, Any]) -> int:
        context["window"] = f"{state.count} in {self.window_s}s"
        return state.adds
