"""Remediation requests and their approvals, kept in Redis.

A request to run a playbook on an alert is an :class:`Action`::

    requested -> approved | denied | expired -> running -> succeeded | failed

Approval rules enforced here, atomically, whatever the caller checked before:

* the requester cannot approve their own request;
* nobody approves twice; ``approvals_required`` distinct people are needed;
* a request expires (default 30 minutes) and an expired one can never be approved;
* every button carries a one-shot token: each click that is acted on replaces it, so a replayed
  or double-clicked callback finds a stale token and does nothing.

Whether a user may approve at all (the approver group) is the caller's check: it needs Slack.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from socbot.core import keys, replication
from socbot.core.streams import decode, decode_fields, texts

log = logging.getLogger(__name__)

ACTION_STATUSES = ("requested", "approved", "denied", "expired", "running", "succeeded", "failed")
DEFAULT_EXPIRY_S = 30 * 60
ACTION_TTL_S = 90 * 86400


@dataclass
class Action:
    """One request to run a playbook against the resources an alert names."""

    id: str
    alert_id: str
    playbook: str
    requested_by: str
    requested_at: float
    expires_at: float
    approvals_required: int
    status: str
    token: str
    approvals: list[str] = field(default_factory=list)
    decided_by: str = ""
    decided_at: float = 0.0  # when the request was approved (the last approval) or denied
    finished_at: float = 0.0  # when the run ended
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    slack_channel: str = ""
    slack_ts: str = ""
    undo_of: str = ""  # for an undo request: the id of the finished run it reverses

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)


@dataclass
class Decision:
    """The outcome of an approve / deny click, with a reason a person can read."""

    outcome: str  # approved | partial | denied | stale | own | already | expired | closed | missing
    action: Action | None

    @property
    def accepted(self) -> bool:
        """True when the click changed the request."""
        return self.outcome in ("approved", "partial", "denied")


# KEYS: action hash, approvers set, actions stream, approval log.
# ARGV: user, token, now, new token, verdict (approve|deny)
_DECIDE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 'stale' end
if status ~= 'requested' then return 'closed' end
if tonumber(ARGV[3]) > tonumber(redis.call('HGET', KEYS[1], 'expires_at')) then
  redis.call('HSET', KEYS[1], 'status', 'expired', 'token', ARGV[4])
  return 'expired'
end
local requester = redis.call('HGET', KEYS[1], 'requested_by')
if ARGV[5] == 'deny' then
  redis.call('HSET', KEYS[1], 'status', 'denied', 'decided_by', ARGV[1], 'token', ARGV[4],
             'decided_at', ARGV[3])
  return 'denied'
end
if requester == ARGV[1] then return 'own' end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 'already' end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[1], 'token', ARGV[4])
local needed = tonumber(redis.call('HGET', KEYS[1], 'approvals_required'))
if redis.call('SCARD', KEYS[2]) >= needed then
  redis.call('HSET', KEYS[1], 'status', 'approved', 'decided_by', ARGV[1],
             'decided_at', ARGV[3])
  -- Queued in the same script: an approval can never be recorded without its run queued.
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '100000', '*',
             'action_id', redis.call('HGET', KEYS[1], 'id'))
  return 'approved'
end
return 'partial'
"""

# KEYS: action hash. ARGV: from status, to status
_MOVE = """
if redis.call('HGET', KEYS[1], 'status') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
  return 1
end
return 0
"""


class ActionStore:
    """Actions in Redis: ``{soc}:action:{id}`` hashes plus the set of who approved each."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._decide = client.register_script(_DECIDE)
        self._move = client.register_script(_MOVE)
        self.replicas, self.wait_ms = replication.wanted()

    key = staticmethod(keys.action)

    def create(self, alert_id: str, playbook: str, requested_by: str, *,
               approvals_required: int = 1, expiry_s: float = DEFAULT_EXPIRY_S,
               params: dict[str, Any] | None = None, now: float | None = None,
               undo_of: str = "") -> Action:
        """Open a request; it needs ``approvals_required`` people other than the requester.
        ``undo_of`` makes it a request to reverse that finished run (with its parameters)."""
        if approvals_required < 1:
            raise ValueError("approvals_required must be at least 1")
        now = time.time() if now is None else now
        action = Action(
            id="R" + secrets.token_hex(5).upper(), alert_id=alert_id, playbook=playbook,
            requested_by=requested_by, requested_at=now, expires_at=now + expiry_s,
            approvals_required=approvals_required, status="requested",
            token=secrets.token_urlsafe(16), params=params or {}, undo_of=undo_of,
        )
        # dict[Any, Any]: redis-py types a mapping's keys invariantly as its encodable types.
        mapping: dict[Any, Any] = {k: v for k, v in action.to_dict().items()
                                   if k not in ("approvals",)}
        mapping["params"] = json.dumps(action.params)
        mapping["result"] = json.dumps(action.result)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.key(action.id), mapping=mapping)
        pipe.expire(self.key(action.id), ACTION_TTL_S)
        pipe.rpush(keys.alert_actions(alert_id), action.id)
        pipe.execute()
        return action

    def get(self, action_id: str) -> Action | None:
        """Load an action, or None."""
        raw = self.client.hgetall(self.key(action_id))
        if not raw:
            return None
        data = decode_fields(raw)
        approvals = texts(self.client.lrange(keys.action_log(action_id), 0, -1))
        return Action(
            id=data["id"], alert_id=data["alert_id"], playbook=data["playbook"],
            requested_by=data["requested_by"], requested_at=float(data["requested_at"]),
            expires_at=float(data["expires_at"]),
            approvals_required=int(data["approvals_required"]), status=data["status"],
            token=data["token"], approvals=approvals, decided_by=data.get("decided_by", ""),
            decided_at=float(data.get("decided_at") or 0),
            finished_at=float(data.get("finished_at") or 0),
            params=json.loads(data.get("params") or "{}"),
            result=json.loads(data.get("result") or "{}"), error=data.get("error", ""),
            slack_channel=data.get("slack_channel", ""), slack_ts=data.get("slack_ts", ""),
            undo_of=data.get("undo_of", ""),
        )

    def for_alert(self, alert_id: str) -> list[Action]:
        """Every request made on an alert, oldest first."""
        ids = texts(self.client.lrange(keys.alert_actions(alert_id), 0, -1))
        return [action for action in map(self.get, ids) if action is not None]

    def decide(self, action_id: str, user: str, token: str, verdict: str,
               now: float | None = None) -> Decision:
        """Apply one approve or deny click by ``user`` carrying ``token``.

        The approval that completes a request also queues it on :data:`core.streams.ACTIONS`
        for the playbook runner, atomically.
        """
        if verdict not in ("approve", "deny"):
            raise ValueError("verdict must be 'approve' or 'deny'")
        now = time.time() if now is None else now
        # With SOCBOT_REDIS_WAIT_REPLICAS the click is on the replicas before it is answered,
        # so a failover cannot hand the spent token back (core/replication.py).
        result, confirmed = replication.write(
            self._decide, self.client,
            [self.key(action_id), keys.action_approvers(action_id), keys.ACTIONS,
             keys.action_log(action_id)],
            [user, token, now, secrets.token_urlsafe(16), verdict], self.replicas, self.wait_ms)
        if not confirmed:
            log.warning("the %s of %s by %s is not confirmed by %d replica(s) in %d ms",
                        verdict, action_id, user, self.replicas, self.wait_ms)
        outcome = decode(result)  # type: ignore[arg-type]
        return Decision(outcome, self.get(action_id))

    def move(self, action_id: str, from_status: str, to_status: str) -> bool:
        """Change status only if it is ``from_status`` now (compare-and-set)."""
        if to_status not in ACTION_STATUSES:
            raise ValueError(f"unknown action status {to_status!r}")
        if to_status != "running" or not self.replicas:
            return bool(self._move(keys=[self.key(action_id)], args=[from_status, to_status]))
        # Starting a run: with SOCBOT_REDIS_WAIT_REPLICAS, only once the replicas hold the
        # start, so a failover cannot hand the run to a second runner. Unconfirmed, the start is
        # taken back and the runner's stage tries the entry again later.
        moved, confirmed = replication.write(self._move, self.client, [self.key(action_id)],
                                             [from_status, to_status], self.replicas,
                                             self.wait_ms)
        if moved and not confirmed:
            self._move(keys=[self.key(action_id)], args=[to_status, from_status])
            raise replication.Unconfirmed(
                f"the start of {action_id} is not on {self.replicas} replica(s) after "
                f"{self.wait_ms} ms; not run now (check the replicas: socbot doctor)")
        return bool(moved)

    def finish(self, action_id: str, status: str, result: dict[str, Any], error: str = "",
               now: float | None = None) -> None:
        """Record how a run ended: ``succeeded`` or ``failed`` with the playbook's output."""
        if status not in ("succeeded", "failed"):
            raise ValueError("a run ends as 'succeeded' or 'failed'")
        self.client.hset(self.key(action_id), mapping={
            "status": status, "result": json.dumps(result, default=str), "error": error,
            "finished_at": time.time() if now is None else now,
        })

    def set_slack_message(self, action_id: str, channel: str, ts: str) -> None:
        """Remember the approval-request message, to update it after each click."""
        self.client.hset(self.key(action_id), mapping={"slack_channel": channel, "slack_ts": ts})
