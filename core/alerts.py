"""Signals, alerts and the store that groups one into the other.

A rule match is a :class:`Signal`. Signals that share a rule and a dedup key inside the rule's
window update one :class:`Alert` (count, first and last seen) instead of raising a new one, so a
storm from one address is one alert whose count grows. Grouping runs as one Lua script, so any
number of detection workers can record signals at once without creating duplicate alerts, and
recording the same signal twice (a redelivered event) counts it once.

Alert lifecycle: ``open -> acknowledged -> resolved | false_positive``.
"""

from __future__ import annotations

import json
import secrets
import time
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from socbot.core import keys
from socbot.core.streams import decode, decode_fields, texts

if TYPE_CHECKING:
    from socbot.core.grouping import AlertWriter

SEVERITIES = ("info", "low", "medium", "high", "critical")
STATUSES = ("open", "acknowledged", "resolved", "false_positive")
TRANSITIONS = {
    "acknowledged": ("open",),
    "resolved": ("open", "acknowledged"),
    "false_positive": ("open", "acknowledged"),
}
RECENT_EVENT_IDS = 20
ALERT_TTL_S = 30 * 86400


@dataclass
class Signal:
    """One rule match: on one event, or on one window of events that crossed a threshold."""

    rule_id: str
    title: str
    severity: str
    dedup_key: str
    entity: dict[str, str]
    event_ids: list[str]
    timestamp: float
    dataset: str
    window_s: int = 3600
    # Events this signal stands for when it opens an alert (a threshold rule's crossing: its
    # window's events), and the events it adds to an open alert it updates (one, except for a
    # threshold crossing that also brings earlier events of its window no signal counted).
    count: int = 1
    adds: int = 1
    mitre: list[str] = field(default_factory=list)
    runbook: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    playbooks: list[str] = field(default_factory=list)
    # Later events of the same alert that the detect stage merged into this signal (one batch,
    # same rule, key and triage fields, nothing of their own to say): (event id, time, events
    # it adds, place in the batch) each, counted as the signals they would have been. Empty
    # outside the detect stage (``socbot replay`` shows one signal per event).
    merged: list[tuple[str, float, int, int]] = field(default_factory=list)

    @property
    def id(self) -> str:
        """Stable id: the rule and the last event it matched."""
        return f"{self.rule_id}:{self.event_ids[-1] if self.event_ids else self.timestamp}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as printed by ``socbot replay``: what :func:`dataclasses.asdict`
        gives (containers copied, nested ones too; ``merged`` only when it holds events),
        written out, since replay prints one per signal and ``asdict``'s generic walk cost more
        than the detection of the signal."""
        out = dict(self.__dict__)
        out["entity"] = dict(self.entity)
        out["event_ids"] = list(self.event_ids)
        out["mitre"] = list(self.mitre)
        out["playbooks"] = list(self.playbooks)
        merged = out.pop("merged")
        if merged:
            out["merged"] = list(merged)
        out["context"] = {name: deepcopy(value) if isinstance(value, dict | list | tuple)
                          else value for name, value in self.context.items()}
        return out


@dataclass
class Alert:
    """What people see and act on: one or more signals of one rule about one entity."""

    id: str
    rule_id: str
    title: str
    severity: str
    dedup_key: str
    entity: dict[str, str]
    dataset: str
    status: str
    count: int
    first_seen: float
    last_seen: float
    mitre: list[str] = field(default_factory=list)
    runbook: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    playbooks: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    status_by: str = ""
    status_at: float = 0.0
    status_reason: str = ""
    slack_channel: str = ""
    slack_ts: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)



# KEYS: alert key, open-alert index. ARGV: new status, user, time, reason, allowed from...
_TRANSITION = f"local alert_prefix = {keys.lua_string(keys.ALERT_PREFIX)}" + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', ''} end
for i = 5, #ARGV do
  if status == ARGV[i] then
    redis.call('HSET', KEYS[1], 'status', ARGV[1], 'status_by', ARGV[2],
               'status_at', ARGV[3], 'status_reason', ARGV[4])
    if ARGV[1] == 'resolved' or ARGV[1] == 'false_positive' then
      redis.call('ZREM', KEYS[2], string.sub(KEYS[1], #alert_prefix + 1))
    end
    return {'ok', status}
  end
end
return {'refused', status}
"""


def new_alert_id() -> str:
    """A short random id people can type in ``/soc alert ID``."""
    return "A" + secrets.token_hex(5).upper()


class AlertStore:
    """Alerts in Redis: ``{soc}:alert:{id}`` hashes, a dedup index and an open-alert index."""

    OPEN_INDEX = keys.OPEN_ALERTS

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._writer: AlertWriter | None = None
        self._transition = client.register_script(_TRANSITION)

    key = staticmethod(keys.alert)

    def record(self, signal: Signal) -> tuple[str, str]:
        """Group ``signal`` into an alert; return ``(alert_id, "new"|"updated"|"duplicate")``.

        One signal on its own, with no mutes and nothing announced; the detection stage folds
        a batch's signals first (:mod:`socbot.core.grouping`).
        """
        from socbot.core.grouping import AlertWriter, fold

        if self._writer is None:
            self._writer = AlertWriter(self.client, announce=False, mutes=False)
        [recorded] = self._writer.write(fold([signal]))
        outcome = "updated" if recorded.outcome == "severity" else recorded.outcome
        return recorded.alert_id, outcome

    def get(self, alert_id: str) -> Alert | None:
        """Load an alert, or None if there is no such alert."""
        raw = self.client.hgetall(self.key(alert_id))
        if not raw:
            return None
        data = decode_fields(raw)
        events = texts(self.client.lrange(keys.alert_events(alert_id), 0, -1))
        return Alert(
            id=data["id"], rule_id=data["rule_id"], title=data["title"],
            severity=data["severity"], dedup_key=data["dedup_key"],
            entity=json.loads(data.get("entity", "{}")), dataset=data.get("dataset", ""),
            status=data["status"], count=int(data.get("count", "1")),
            first_seen=float(data["first_seen"]), last_seen=float(data["last_seen"]),
            mitre=json.loads(data.get("mitre", "[]")), runbook=data.get("runbook", ""),
            context=json.loads(data.get("context", "{}")),
            playbooks=json.loads(data.get("playbooks", "[]")), event_ids=events,
            status_by=data.get("status_by", ""), status_at=float(data.get("status_at") or 0),
            status_reason=data.get("status_reason", ""),
            slack_channel=data.get("slack_channel", ""), slack_ts=data.get("slack_ts", ""),
        )

    def transition(self, alert_id: str, status: str, user: str,
                   reason: str = "") -> tuple[bool, str]:
        """Move an alert to ``status`` if its lifecycle allows; return ``(done, previous)``.

        ``previous`` is the status found ("missing" if there is no such alert), so a refused
        transition can tell the user why (already acknowledged, already resolved, ...).
        """
        allowed = TRANSITIONS.get(status)
        if allowed is None:
            raise ValueError(f"unknown alert status {status!r}; expected one of {STATUSES[1:]}")
        outcome, previous = (decode(part) for part in self._transition(
            keys=[self.key(alert_id), self.OPEN_INDEX],
            args=[status, user, time.time(), reason, *allowed],
        ))
        if outcome == "missing":
            return False, "missing"
        return outcome == "ok", previous

    def set_slack_message(self, alert_id: str, channel: str, ts: str) -> None:
        """Remember where the alert was posted, for updates and thread replies."""
        self.client.hset(self.key(alert_id), mapping={"slack_channel": channel, "slack_ts": ts})

    def open_alerts(self, limit: int = 100) -> list[Alert]:
        """The most recent open or acknowledged alerts, newest first."""
        ids = texts(self.client.zrevrange(self.OPEN_INDEX, 0, limit - 1))
        return [alert for alert in map(self.get, ids) if alert is not None]

