"""Risk: signals of other rules about one entity whose scores add up to a threshold."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Self

from socbot.detections.state.base import (
    MEMO_MAX,
    SEP,
    Memo,
    Planned,
    State,
    StateKind,
    as_int,
    as_list,
    as_text,
    state_key,
)
from socbot.detections.state.registry import register

if TYPE_CHECKING:
    from socbot.core.config import DetectionSettings
    from socbot.core.events import Event
    from socbot.detections.rule import Match

# Risk points per severity.
RISK_SCORES = {"info": 1, "low": 10, "medium": 25, "high": 50, "critical": 100}


@register
@dataclass(frozen=True)
class Risk(StateKind):
    """Fire when signals of at least ``min_rules`` rules about one entity score ``threshold``.

    Each rule counts once, at its highest severity (:data:`RISK_SCORES`), within ``window_s``;
    ``detection.risk_threshold`` and ``detection.risk_window_s`` override the declaration when
    the configuration file sets them.
    """

    code = "K"
    lua_prelude = "local points = {" + ", ".join(
        f"{name}={points}" for name, points in RISK_SCORES.items()) + "}\n"

    threshold: int
    window_s: int
    min_rules: int = 2

    def configure(self, detection: DetectionSettings) -> Self:
        risk = {name: getattr(detection, f"risk_{name}") for name in ("threshold", "window_s")
                if f"risk_{name}" in detection.model_fields_set}
        return replace(self, **risk) if risk else self

    def plan(self, rule_id: str, key: str, event: Event, match: Match, event_id: str,
             ts: float, memo: Memo) -> Planned | None:
        # One member per rule and severity (bounded), its latest title in a hash beside; the
        # sum runs in Redis and answers only when this signal brought new evidence (a rule, or
        # a higher severity of one) and the entity is over the threshold.
        action, severity = event.get("event.action", ""), event.get("signal.severity", "info")
        # A rule already counted for this entity moments ago brings nothing new; its
        # last-seen time is refreshed at most every tenth of the window. (Remembered by the
        # parts of key and member: a storm asks once per signal, and mostly gets "seen".)
        remembered = ("K", rule_id, key, str(action), str(severity))
        seen = memo.get(remembered)
        if seen is not None and seen <= ts < seen + self.window_s / 10:
            return None
        if len(memo) > MEMO_MAX:
            memo.clear()
        memo[remembered] = ts
        k = state_key(rule_id, key, "risk")
        member = f"{action}{SEP}{severity}"
        return Planned(["K", k, member, ts, self.window_s,
                        str(event.get("signal.title", ""))[:200], self.threshold,
                        self.min_rules])

    def decode(self, reply: object, planned: Planned) -> State | None:
        raw = as_list(reply)
        if not raw or as_int(raw[0]) == 0:
            return None
        if as_int(raw[0]) == 2:  # crossed before in this window: the alert already lists them
            return State(count=as_int(raw[1]))
        best: dict[str, dict[str, Any]] = {}
        for i in range(2, len(raw), 3):
            member, score, title = as_text(raw[i]), float(as_text(raw[i + 1])), as_text(raw[i + 2])
            rule_id, _, severity = member.partition(SEP)
            points = RISK_SCORES.get(severity, 0)
            known = best.get(rule_id)
            if known is None or points > known["points"]:
                best[rule_id] = {"rule": rule_id, "severity": severity, "title": title,
                                 "points": points, "@t": score}
        total = sum(item["points"] for item in best.values())
        found = tuple(sorted(best.values(), key=lambda r: (-r["points"], r["@t"])))
        return State(count=total, records=found)

    def annotate(self, state: State, context: dict[str, Any]) -> int:
        context["risk_score"] = state.count
        if state.records:
            context["signals"] = "; ".join(
                f"{r['rule']} ({r['severity']}): {r['title']}" for r in state.records)
        return 1
