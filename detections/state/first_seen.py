"""FirstSeen: a value never seen before for one key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
class FirstSeen(StateKind):
    """Fire when a value of ``field`` was never seen for the ``by`` value (within ``ttl_s``).

    ``require_history``: and the key has been seen before, so a brand-new user is not "new"
    everywhere.
    """

    code = "F"
    foldable = True

    by: str
    field: str
    require_history: bool = True
    ttl_s: int = 90 * 86400

    @property
    def key_field(self) -> str | None:
        return self.by

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        value = match.value if match.value is not None else event.get(self.field)
        if isinstance(value, tuple):
            value = value[0] if value else None
        if value in (None, ""):
            return None
        # The first event that brought a value owns it: a redelivery of that event still
        # finds itself the owner, so the verdict is the same on every delivery.
        return Planned(["F", state_key(rule_id, key, "seen"), str(value), event_id,
                        self.ttl_s])

    def decode(self, reply: object, planned: Planned) -> State | None:
        owner, known = (as_int(part) for part in as_list(reply)[:2])
        new = owner == 1 and (not self.require_history or known > 1)
        return State(count=known, new=True) if new else None
