"""Signals folded per alert before they are written: one write per alert per batch.

:func:`fold` groups a batch's signals by rule and dedup key (a gap longer than the rule's window
starts a new group, as it would start a new alert): count, first and last seen, the events, the
most severe signal. :meth:`AlertWriter.write` records every group of a batch in one script call
(one round trip): mutes, alert creation or update, and what the notifier must know.

The alert stays exact: each signal's id joins the alert's signal set and only a signal new to
the set adds to the count, so a batch delivered twice (a worker that died before acknowledging
it) adds nothing, however its entries are regrouped.

Only news goes on ``{soc}:alerts``: ``new`` (an alert opened) and ``severity`` (a more severe
signal raised it). An alert whose count merely grew is marked in the notifier's dirty set
(:data:`DIRTY`), the coalesced path that edits the message at Slack's pace.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from operator import itemgetter
from typing import Any

import orjson
import redis

from socbot.core import keys
from socbot.core.alerts import ALERT_TTL_S, RECENT_EVENT_IDS, SEVERITIES, Signal, new_alert_id
from socbot.core.mutes import ANY
from socbot.core.scriptcalls import ScriptCalls

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
ALERTS_MAXLEN = 100_000
_JSON_FIELDS = ("entity", "mitre", "context", "playbooks")


@dataclass
class AlertGroup:
    """The signals of one batch that belong to one alert, in the order they came."""

    signals: list[Signal] = field(default_factory=list)
    # The place of each signal's event in the batch, when the signals have merged events (the
    # detect stage): their events are written in batch order.
    places: list[int] = field(default_factory=list)
    top: int = 0  # index of the first signal of the highest severity
    first_seen: float = 0.0
    last_seen: float = 0.0

    @property
    def first(self) -> Signal:
        """The signal that opens the alert if there is none yet."""
        return self.signals[0]

    def add(self, signal: Signal) -> None:
        if not self.signals:
            self.first_seen = self.last_seen = signal.timestamp
        elif SEVERITY_RANK[signal.severity] > SEVERITY_RANK[self.signals[self.top].severity]:
            self.top = len(self.signals)
        self.signals.append(signal)
        self.first_seen = min(self.first_seen, signal.timestamp)
        self.last_seen = max(self.last_seen, signal.timestamp)
        if signal.merged:  # the events merged into it count as the signals they stand for
            times = [merged[1] for merged in signal.merged]
            self.first_seen = min(self.first_seen, *times)
            self.last_seen = max(self.last_seen, *times)

    def events(self) -> tuple[list[str], list[int]]:
        """The event id of each signal and of each event merged into one, in the order of
        their events in the batch (``places``; without them, each signal's merged events follow
        it), and the events each adds to an open alert."""
        if not any(s.merged for s in self.signals):
            return ([s.event_ids[-1] if s.event_ids else str(s.timestamp) for s in self.signals],
                    [s.adds for s in self.signals])
        entries: list[tuple[int, str, int]] = []
        for n, s in enumerate(self.signals):
            place = self.places[n] if self.places else n
            entries.append((place, s.event_ids[-1] if s.event_ids else str(s.timestamp), s.adds))
            entries += [(at if self.places else n, event_id, added)
                        for event_id, _, added, at in s.merged]
        entries.sort(key=itemgetter(0))  # stable: the group's first signal stays first
        return [e[1] for e in entries], [e[2] for e in entries]


def fold(signals: Iterable[Signal],
         places: Mapping[int, int] | None = None) -> list[AlertGroup]:
    """Group signals by rule and dedup key, in order; a gap longer than the rule's window
    (after the latest signal so far) starts a new group. ``places``: the place in the batch of
    each signal's event, by ``id(signal)``, where signals hold merged events
    (:attr:`Signal.merged`)."""
    open_groups: dict[tuple[str, str], AlertGroup] = {}
    groups: list[AlertGroup] = []
    for signal in signals:
        key = (signal.rule_id, signal.dedup_key)
        group = open_groups.get(key)
        if group is None or signal.timestamp - group.last_seen > signal.window_s:
            group = open_groups[key] = AlertGroup()
            groups.append(group)
        group.add(signal)
        if places is not None:
            group.places.append(places[id(signal)])
    return groups


@dataclass(frozen=True)
class Recorded:
    """What became of one group: its alert and the outcome."""

    group: AlertGroup
    alert_id: str
    outcome: str  # new, severity (raised), updated, duplicate or muted


class AlertWriter:
    """Record groups of signals as alerts, a batch per script call.

    ``announce``: write ``new``/``severity`` entries to ``{soc}:alerts`` and dirty marks for the
    notifier (what the detection stage does); without it only the alerts change. ``mutes``:
    leave out (and count) groups whose rule is muted for their entity or dedup key.
    """

    def __init__(self, client: redis.Redis, *, announce: bool = True, mutes: bool = True) -> None:
        self.client = client
        self.announce = announce
        self.mutes = mutes
        source = (resources.files("socbot.core") / "record_alerts.lua").read_text("utf-8")
        self._script = client.register_script(source)

    def script(self) -> Any:
        """The registered write script (what :class:`ScriptCalls` calls)."""
        return self._script

    def write(self, groups: Sequence[AlertGroup], now: float | None = None) -> list[Recorded]:
        """Record ``groups`` in one round trip; the outcome of each, in order."""
        if not groups:
            return []
        with ScriptCalls(self.client, self.script) as calls:
            self.send(calls, groups, now)
            return self.receive(calls)

    def send(self, calls: ScriptCalls, groups: Sequence[AlertGroup],
             now: float | None = None) -> None:
        """Send the write of ``groups`` (not empty) on ``calls`` without waiting: Redis runs it
        while the caller goes on; :meth:`receive` reads the outcome."""
        now = time.time() if now is None else now
        written = [self._group(g, now) for g in groups]
        payload = {"prefix": keys.ALERT_PREFIX, "now": now, "ttl": ALERT_TTL_S,
                   "recent": RECENT_EVENT_IDS, "maxlen": ALERTS_MAXLEN, "announce": self.announce,
                   "groups": written}
        # KEYS: the four the script names, then (declared only, for Redis Cluster to route the
        # call and check one slot) the keys each group will touch that are known here. An alert
        # that a dedup key names is found inside the script; its keys share the {soc} tag.
        declared = [keys.OPEN_ALERTS, keys.ALERTS, keys.NOTIFY_DIRTY, keys.MUTE_COUNTS]
        for group in written:
            declared += [group["dedup"], keys.alert(group["id"]), keys.alert_signals(group["id"]),
                         keys.alert_events(group["id"]), *(mute[0] for mute in group["mutes"])]
        calls.send(orjson.dumps(payload), declared, groups)

    def receive(self, calls: ScriptCalls) -> list[Recorded]:
        """The outcome of each group of the earliest write :meth:`send` sent on ``calls``."""
        reply, groups = calls.read()
        results = orjson.loads(reply)
        return [Recorded(g, str(alert_id), str(outcome))
                for g, (alert_id, outcome) in zip(groups, results, strict=True)]

    def _group(self, group: AlertGroup, now: float) -> dict[str, Any]:
        first, top = group.first, group.signals[group.top]
        evs, adds = group.events()
        alert_id = new_alert_id()
        values: dict[str, Any] = {
            "id": alert_id, "rule_id": first.rule_id, "title": first.title,
            "severity": first.severity, "dedup_key": first.dedup_key,
            "dataset": first.dataset, "status": "open", "count": first.count,
            "first_seen": group.first_seen, "last_seen": group.last_seen,
            "runbook": first.runbook, "created_at": now,
            "severity_rank": SEVERITY_RANK[first.severity],
        }
        fields: list[Any] = []
        for name, value in values.items():
            fields += [name, value]
        for name in _JSON_FIELDS:
            fields += [name, orjson.dumps(getattr(first, name)).decode()]
        out: dict[str, Any] = {
            "rule": first.rule_id, "dedup": keys.dedup(first.rule_id, first.dedup_key),
            "window": first.window_s, "ts": first.timestamp,
            "first": group.first_seen, "last": group.last_seen,
            "evs": evs,
            "count": first.count, "rank": SEVERITY_RANK[top.severity],
            "severity": top.severity, "title": top.title,
            "context": orjson.dumps(top.context, default=str).decode(),
            "id": alert_id, "fields": fields, "mutes": self._mutes(first),
        }
        if any(added != 1 for added in adds):
            out["adds"] = adds
        return out

    def _mutes(self, signal: Signal) -> list[list[str]]:
        """The mute keys that silence this signal, in the order they are looked for, each with
        the name its silenced signals are counted under (as ``MuteStore`` does)."""
        if not self.mutes:
            return []
        entity = str(signal.entity.get("value", ""))
        names = [entity, ANY]
        if signal.dedup_key != entity:
            names.append(signal.dedup_key)
        return [[keys.mute(signal.rule_id, name), f"{signal.rule_id}:{name or ANY}"]
                for name in names]
