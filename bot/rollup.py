"""Storm rollups: many alerts of one rule opening in one channel become one message.

When ``slack.rollup.alerts`` alerts of one rule open in one channel within
``slack.rollup.window_seconds`` (default 5 in 60 s), the notifier stops posting them one by
one: the channel gets one rollup message ("SSH brute force from 50 addresses on 3 hosts"),
updated in place, listing the members. Alerts of that rule that open later in that channel
join it, until the rollup has had no new member for :data:`IDLE_S`. Alerts posted on their own
before the storm was recognised (at most ``alerts - 1``, usually one: posts wait for the
channel's slot) are listed as members too and keep their message.

A member is still an alert like any other (``/soc alert ID``, the Home tab); one without a
message of its own gets one in the rollup's thread when someone picks it in the rollup
(:mod:`socbot.bot.rollup_listeners`), with the usual buttons.

Redis: ``{soc}:rollup:{id}`` (hash: rule, channel, message), ``{soc}:rollup:{id}:members`` (sorted
set by join time), ``{soc}:rollup:member:{alert_id}`` (the alert's rollup),
``{soc}:rollup:active:{channel}:{rule}`` (the rollup taking members) and
``{soc}:rollup:recent:{channel}:{rule}`` (alerts opened there lately, to count a storm).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from socbot.core import keys
from socbot.core.alerts import ALERT_TTL_S, SEVERITIES, Alert, AlertStore
from socbot.core.streams import decode, texts

PREFIX = "R"  # rollup ids start with R, alert ids with A
IDLE_S = 3600  # a rollup takes new members until it has had none for this long


def is_rollup(key: str) -> bool:
    """True for a rollup id (the notifier's marks hold alert and rollup ids)."""
    return key.startswith(PREFIX)


@dataclass
class Rollup:
    """One storm message and its members (alert ids, oldest first)."""

    id: str
    rule_id: str
    channel: str  # the routed channel (as configured)
    created_at: float
    slack_channel: str = ""
    slack_ts: str = ""
    members: list[str] = field(default_factory=list)


@dataclass
class Member:
    """What the rollup message shows of one member alert."""

    id: str
    title: str
    severity_rank: int
    severity: str
    count: int
    status: str
    entity: dict[str, str]
    host: str
    slack_ts: str
    last_seen: float


def member(alert: Alert) -> Member:
    """An alert as a rollup lists it."""
    return Member(id=alert.id, title=alert.title,
                  severity_rank=SEVERITIES.index(alert.severity)
                  if alert.severity in SEVERITIES else 0,
                  severity=alert.severity, count=alert.count, status=alert.status,
                  entity=dict(alert.entity), host=str(alert.context.get("host.name", "")),
                  slack_ts=alert.slack_ts, last_seen=alert.last_seen)


def ranked(members: Iterable[Member]) -> list[Member]:
    """Live members first, then most severe, then most active."""
    return sorted(members, key=lambda m: (m.status not in ("open", "acknowledged"),
                                          -m.severity_rank, -m.count, m.id))


def storms(alerts: Sequence[Alert], channel_of: Callable[[Alert], str], *, threshold: int,
           window_s: float) -> tuple[list[Alert], list[tuple[Rollup, list[Alert]]]]:
    """Offline rollups (``socbot replay --format slack``), by the alerts' first-seen times:
    the alerts shown on their own, and each rollup with its members. Like the notifier: once
    ``threshold`` alerts of a rule open in a channel within ``window_s``, they and every later
    one of that rule in that channel form one rollup."""
    groups: dict[tuple[str, str], list[Alert]] = {}
    for alert in sorted(alerts, key=lambda a: a.first_seen):
        groups.setdefault((channel_of(alert), alert.rule_id), []).append(alert)
    alone: list[Alert] = []
    found: list[tuple[Rollup, list[Alert]]] = []
    for (channel, rule_id), group in groups.items():
        start = None
        for i, alert in enumerate(group):
            recent = [a for a in group[:i + 1] if alert.first_seen - a.first_seen <= window_s]
            if len(recent) >= threshold:
                start = group.index(recent[0])
                break
        if start is None:
            alone += group
            continue
        alone += group[:start]
        members = group[start:]
        rollup = Rollup(id=PREFIX + members[0].id[1:], rule_id=rule_id, channel=channel,
                        created_at=members[0].first_seen, members=[a.id for a in members])
        found.append((rollup, members))
    return sorted(alone, key=lambda a: a.first_seen), found


class RollupStore:
    """Rollups in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    key = staticmethod(keys.rollup)
    member_key = staticmethod(keys.rollup_of)
    _active = staticmethod(keys.rollup_active)
    _recent = staticmethod(keys.rollup_recent)

    def get(self, rollup_id: str) -> Rollup | None:
        """A rollup with its member ids, or None."""
        raw = self.client.hgetall(self.key(rollup_id))
        if not raw:
            return None
        data = {decode(k): decode(v) for k, v in raw.items()}
        members = texts(cast(list[bytes],
                             self.client.zrange(keys.rollup_members(rollup_id), 0, -1)))
        return Rollup(id=data["id"], rule_id=data["rule_id"], channel=data["channel"],
                      created_at=float(data["created_at"]),
                      slack_channel=data.get("slack_channel", ""),
                      slack_ts=data.get("slack_ts", ""), members=members)

    def of(self, alert_ids: Sequence[str]) -> dict[str, str]:
        """Alert id -> its rollup id, for the alerts that belong to one."""
        if not alert_ids:
            return {}
        found = self.client.mget([self.member_key(a) for a in alert_ids])
        return {a: decode(r) for a, r in zip(alert_ids, found, strict=True) if r}

    def active(self, channel: str, rule_id: str) -> str | None:
        """The rollup taking new members of ``rule_id`` in ``channel``, if any."""
        found = self.client.get(self._active(channel, rule_id))
        return decode(found) if found else None

    def opened(self, channel: str, rule_id: str, alert_ids: Iterable[str], now: float,
               window_s: float) -> list[str]:
        """Note that these alerts opened now (the first time counts); return every alert of
        the rule opened in the channel within the window."""
        key = self._recent(channel, rule_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(key, dict.fromkeys(alert_ids, now), nx=True)
        pipe.zremrangebyscore(key, "-inf", now - window_s)
        pipe.expire(key, int(window_s) + 60)
        pipe.zrange(key, 0, -1)
        return [decode(a) for a in pipe.execute()[-1]]

    def start(self, channel: str, rule_id: str, alert_ids: Sequence[str], now: float,
              severity_rank: int = 0) -> str:
        """Open a rollup with these members (or join the one another process just opened);
        return its id."""
        rollup_id = PREFIX + secrets.token_hex(5).upper()
        if self.client.set(self._active(channel, rule_id), rollup_id, nx=True, ex=IDLE_S):
            self.client.hset(self.key(rollup_id), mapping={
                "id": rollup_id, "rule_id": rule_id, "channel": channel, "created_at": now})
            self.client.expire(self.key(rollup_id), ALERT_TTL_S)
        else:
            rollup_id = self.active(channel, rule_id) or rollup_id
        self.join(rollup_id, channel, rule_id, alert_ids, now, severity_rank)
        return rollup_id

    def join(self, rollup_id: str, channel: str, rule_id: str, alert_ids: Sequence[str],
             now: float, severity_rank: int = 0) -> None:
        """Add members (an alert joins one rollup once) and keep the rollup open for joins;
        ``severity_rank`` is the most severe of them (the rollup keeps the highest)."""
        if severity_rank > self.severity_rank(rollup_id):
            self.client.hset(self.key(rollup_id), "severity_rank", severity_rank)
        pipe = self.client.pipeline(transaction=False)
        members = keys.rollup_members(rollup_id)
        pipe.zadd(members, dict.fromkeys(alert_ids, now), nx=True)
        pipe.expire(members, ALERT_TTL_S)
        for alert_id in alert_ids:
            pipe.set(self.member_key(alert_id), rollup_id, ex=ALERT_TTL_S)
        pipe.expire(self._active(channel, rule_id), IDLE_S)
        pipe.execute()

    def severity_rank(self, rollup_id: str) -> int:
        """The rank (``SEVERITIES`` index) of the rollup's most severe member."""
        return int(self.client.hget(self.key(rollup_id), "severity_rank") or 0)

    def set_slack_message(self, rollup_id: str, channel: str, ts: str) -> None:
        """Remember where the rollup was posted."""
        self.client.hset(self.key(rollup_id), mapping={"slack_channel": channel, "slack_ts": ts})

    def members(self, rollup: Rollup) -> list[Member]:
        """The members as the message shows them: most severe, then most active first."""
        fields = ("title", "severity_rank", "severity", "count", "status", "entity", "context",
                  "slack_ts", "last_seen")
        pipe = self.client.pipeline(transaction=False)
        for alert_id in rollup.members:
            pipe.hmget(AlertStore.key(alert_id), *fields)
        found = []
        for alert_id, row in zip(rollup.members, pipe.execute(), strict=True):
            values = dict(zip(fields, (decode(v) if v is not None else "" for v in row),
                              strict=True))
            if not values["title"]:
                continue  # expired
            context = _json(values["context"])
            found.append(Member(
                id=alert_id, title=values["title"],
                severity_rank=int(values["severity_rank"] or 0), severity=values["severity"],
                count=int(values["count"] or 0), status=values["status"],
                entity=_json(values["entity"]), host=str(context.get("host.name", "")),
                slack_ts=values["slack_ts"], last_seen=float(values["last_seen"] or 0)))
        return ranked(found)


def _json(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}

