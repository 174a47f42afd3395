"""The storm rollup's controls: pick a member, acknowledge all, mute all.

* **Pick a member** (anyone): the member gets its own alert message, with the usual buttons, in
  the rollup's thread (once: a second pick points at it). From then on it is updated in place
  like any alert and its buttons work as everywhere.
* **Acknowledge all** (anyone, like Acknowledge): every open member is acknowledged; each one
  is a compare-and-set, so a replayed click acknowledges nothing twice.
* **Mute all N h** (responders, like Mute): the rule is muted for every live member's entity
  that is not muted yet.

Nothing here can change infrastructure: playbooks are requested per member, from its message.
Every change and refusal is audited; the rollup message is redrawn at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from socbot.bot.blocks import mention
from socbot.bot.escape import escape
from socbot.bot.render import mute_entity
from socbot.bot.rollup import Rollup, RollupStore
from socbot.bot.rollup_blocks import rollup_message
from socbot.core import keys
from socbot.core.audit import audit

if TYPE_CHECKING:
    from slack_bolt import Ack

    from socbot.bot.app import Listeners

Body = dict[str, Any]
DIRTY = keys.NOTIFY_DIRTY  # the notifier's marks
PICK_LOCK_MS = 20_000


class RollupListeners:
    """Listeners for the rollup message; they share the alert listeners' stores and checks."""

    def __init__(self, listeners: Listeners) -> None:
        self.base = listeners
        self.rollups = RollupStore(listeners.redis)

    def pick(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """A member picked in the rollup: its own message in the rollup's thread."""
        ack()
        user = body["user"]["id"]
        alert_id = str((action.get("selected_option") or {}).get("value", ""))[:40]
        rollup = self._rollup(action)
        alert = self.base.alerts.get(alert_id)
        if rollup is None or alert is None or alert_id not in rollup.members:
            audit(self.base.redis, who=user, what="rollup_pick", alert_id=alert_id,
                  result="refused:not_member")
            self.base._tell(body, "That alert is not part of this storm; nothing changed.")
            return
        lock = keys.notify_posting(alert_id)
        if alert.slack_ts or not self.base.redis.set(lock, user, nx=True, px=PICK_LOCK_MS):
            self.base._tell(body, f"`{alert_id}` already has its message in this thread "
                                  f"(or is getting it); `/soc alert {alert_id}` shows it too.")
            return
        try:
            posted = self.base.client.chat_postMessage(
                channel=rollup.slack_channel, thread_ts=rollup.slack_ts,
                **self.base.renderer.message(alert))
            self.base.alerts.set_slack_message(alert_id, posted["channel"], posted["ts"])
        finally:
            self.base.redis.delete(lock)
        audit(self.base.redis, who=user, what="rollup_pick", alert_id=alert_id, result="ok")

    def acknowledge_all(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Acknowledge every open member."""
        ack()
        user = body["user"]["id"]
        rollup = self._rollup(action)
        if rollup is None:
            self.base._tell(body, "This storm no longer exists; nothing changed.")
            return
        done = []
        for alert_id in rollup.members:
            changed, _previous = self.base.alerts.transition(alert_id, "acknowledged", user)
            if changed:
                done.append(alert_id)
                audit(self.base.redis, who=user, what="ack", alert_id=alert_id,
                      result="ok:rollup")
        if not done:
            audit(self.base.redis, who=user, what="rollup_ack_all", alert_id=rollup.id,
                  result="refused:none_open")
            self.base._tell(body, "No alert of this storm is open any more; nothing changed.")
            return
        self._changed(rollup, done, f"Acknowledged {len(done)} alert(s) by {mention(user)}")

    def mute_all(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Mute the rule for every live member's entity (responders only)."""
        ack()
        user = body["user"]["id"]
        rollup_id, _, hours_text = str(action.get("value", "")).partition("|")
        rollup = self.rollups.get(rollup_id[:40])
        if not self.base._may_respond(body, "rollup_mute", rollup_id[:40]):
            return
        offered = {str(h): h for h in self.base.settings.slack.mute_hours}
        hours = offered.get(hours_text, 0)
        if rollup is None or not hours:
            audit(self.base.redis, who=user, what="rollup_mute", alert_id=rollup_id[:40],
                  result="refused:invalid")
            self.base._tell(body, "This mute is not offered on this storm; nothing changed.")
            return
        muted, entities = [], set()
        for alert_id in rollup.members:
            alert = self.base.alerts.get(alert_id)
            if alert is None or alert.status not in ("open", "acknowledged"):
                continue
            entity = mute_entity(alert)
            if entity in entities or self.base.mutes.is_muted(alert.rule_id, entity):
                continue
            entities.add(entity)
            self.base.mutes.mute(alert.rule_id, entity, seconds=hours * 3600, by=user,
                                 reason=f"Mute all on storm {rollup.id}")
            muted.append(alert_id)
            audit(self.base.redis, who=user, what="mute", alert_id=alert_id,
                  result=f"{hours}h:rollup")
        if not muted:
            self.base._tell(body, "Every entity of this storm is muted already; nothing "
                                  "changed.")
            return
        self._changed(rollup, muted, f":mute: Muted for {hours} h by {mention(user)}: no new "
                                     f"alerts from `{escape(rollup.rule_id)}` for "
                                     f"{len(entities)} entities")

    def _rollup(self, action: dict[str, Any]) -> Rollup | None:
        """The rollup whose message the control is on (its block id, else its value)."""
        block = str(action.get("block_id", ""))
        rollup_id = block.partition(":")[2] if block.startswith("rollup:") else str(
            action.get("value", "")).partition("|")[0]
        return self.rollups.get(rollup_id[:40]) if rollup_id else None

    def _changed(self, rollup: Rollup, alert_ids: list[str], line: str) -> None:
        """Redraw the rollup now, say what changed in its thread, and have the notifier redraw
        the members that have messages of their own."""
        pipe = self.base.redis.pipeline(transaction=False)
        for alert_id in alert_ids:
            pipe.hincrby(DIRTY, alert_id, 1)
        pipe.execute()
        if not rollup.slack_ts:
            return
        fresh = self.rollups.get(rollup.id) or rollup
        self.base.client.chat_update(
            channel=fresh.slack_channel, ts=fresh.slack_ts,
            **rollup_message(fresh, self.rollups.members(fresh),
                             mute_hours=self.base.settings.slack.mute_hours))
        self.base.client.chat_postMessage(channel=fresh.slack_channel, thread_ts=fresh.slack_ts,
                                          text=line, unfurl_links=False, unfurl_media=False)
