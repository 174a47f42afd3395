"""The Bolt app: buttons on alerts and on approval requests.

Built by :func:`build_app` so tests (and Socket Mode or HTTP mode) can hand it a ``WebClient``
pointed anywhere. Every listener calls ``ack()`` first and then does a few Redis and Web API
calls; a playbook never runs here: an approved request is queued on ``soc:actions`` for the
playbook runner.

Clicks can be replayed (Slack's signature has no nonce) or double-clicked, so every listener is
idempotent: alert transitions are compare-and-set in :class:`core.alerts.AlertStore`, and the
approval buttons carry a one-shot token checked by :meth:`core.actions.ActionStore.decide`.
Every change, and every refused attempt, is written to the audit stream.
"""

from __future__ import annotations

import logging
import secrets as token_source
from typing import Any

import redis
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks
from bot.approvers import Approvers
from bot.blocks import PlaybookLookup, mention, utc
from bot.escape import escape
from core.actions import Action, ActionStore, Decision
from core.alerts import Alert, AlertStore
from core.audit import audit
from core.config import Secrets, Settings

log = logging.getLogger(__name__)

Body = dict[str, Any]


def build_app(settings: Settings, secrets: Secrets, client: WebClient, redis_client: redis.Redis,
              *, process_before_response: bool = False,
              playbook_lookup: PlaybookLookup | None = None) -> App:
    """Create the Bolt app with its listeners.

    ``playbook_lookup`` finds a playbook class by name (``.approvals_required``,
    ``.description``); the default is :func:`playbooks.registry.get`.
    """
    app = App(client=client, signing_secret=secrets.slack_signing_secret or None,
              token_verification_enabled=False,
              process_before_response=process_before_response)
    listeners = Listeners(settings, client, redis_client,
                          playbook_lookup or blocks.registry_lookup)
    app.action(blocks.ACK)(listeners.acknowledge)
    app.action(blocks.REQUEST)(listeners.request_playbook)
    app.action(blocks.APPROVE)(listeners.approve)
    app.action(blocks.DENY)(listeners.deny)
    app.error(listeners.on_error)
    return app


class Listeners:
    """The button handlers. Each reads ``user.id`` from the payload and nothing else of who."""

    def __init__(self, settings: Settings, client: WebClient, redis_client: redis.Redis,
                 playbook_lookup: PlaybookLookup) -> None:
        self.settings = settings
        self.client = client
        self.redis = redis_client
        self.alerts = AlertStore(redis_client)
        self.actions = ActionStore(redis_client)
        self.approvers = Approvers(settings, client)
        self.lookup = playbook_lookup

    # --- alert buttons ---------------------------------------------------------------------

    def acknowledge(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Acknowledge: update the alert in place and say so in its thread, once."""
        ack()
        user, alert_id = body["user"]["id"], str(action.get("value", ""))
        done, previous = self.alerts.transition(alert_id, "acknowledged", user)
        alert = self.alerts.get(alert_id)
        audit(self.redis, who=user, what="ack", alert_id=alert_id,
              result="ok" if done else f"refused:{previous}")
        if alert is None:
            self._tell(body, "This alert no longer exists; nothing changed.")
            return
        if not done:
            self._tell(body, f"Already {escape(previous.replace('_', ' '))} by "
                             f"{mention(alert.status_by)} at {utc(alert.status_at)}; "
                             "nothing changed.")
            return
        channel, ts = self._where(alert, body)
        self._update_alert(alert, channel, ts)
        self.client.chat_postMessage(channel=channel, thread_ts=ts,
                                     text=f"Acknowledged by {mention(user)}",
                                     unfurl_links=False, unfurl_media=False)

    def request_playbook(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Run button: open an approval request in the alert's thread (nothing runs yet)."""
        ack()
        user = body["user"]["id"]
        alert_id, _, name = str(action.get("value", "")).partition("|")
        alert = self.alerts.get(alert_id)
        refusal = self._request_refusal(alert, name)
        if refusal or alert is None:
            audit(self.redis, who=user, what="request", alert_id=alert_id,
                  result=f"refused:{name[:80]}")
            self._tell(body, refusal or "This alert no longer exists; nothing was requested.")
            return
        playbook = self.lookup(name)
        action_record = self.actions.create(
            alert.id, name, user, approvals_required=int(playbook.approvals_required),
            expiry_s=self.settings.approvals.expire_minutes * 60)
        channel, ts = self._where(alert, body)
        posted = self.client.chat_postMessage(channel=channel, thread_ts=ts,
                                              **blocks.approval_message(action_record, alert))
        self.actions.set_slack_message(action_record.id, posted["channel"], posted["ts"])
        audit(self.redis, who=user, what="request", alert_id=alert.id,
              action_id=action_record.id, result="requested")
        # Re-render the alert: the Run button goes away while the request is pending.
        self._update_alert(alert, channel, ts)

    def _request_refusal(self, alert: Alert | None, name: str) -> str:
        if alert is None:
            return "This alert no longer exists; nothing was requested."
        # The value comes back from Slack, but a forged or stale one must not pick a playbook
        # the alert never offered.
        if name not in alert.playbooks:
            return "That playbook is not offered on this alert; nothing was requested."
        try:
            self.lookup(name)
        except KeyError:
            return f"Playbook {escape(name)} is not installed; nothing was requested."
        if alert.status not in ("open", "acknowledged"):
            return f"This alert is {escape(alert.status)}; nothing was requested."
        pending = [a for a in self.actions.for_alert(alert.id)
                   if a.playbook == name and blocks.is_active(a)]
        if pending:
            return (f"{escape(name)} was already requested ({pending[0].id}, "
                    f"{pending[0].status}); see the alert's thread.")
        return ""

    # --- approval buttons ------------------------------------------------------------------

    def approve(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Approve: count one approval from an approver other than the requester."""
        ack()
        self._decide(body, action, "approve")

    def deny(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Deny (by an approver) or cancel (by the requester)."""
        ack()
        self._decide(body, action, "deny")

    def _decide(self, body: Body, action: dict[str, Any], verdict: str) -> None:
        user = body["user"]["id"]
        action_id, _, token = str(action.get("value", "")).partition(":")
        request = self.actions.get(action_id)
        if request is None:
            audit(self.redis, who=user, what=verdict, action_id=action_id[:40], result="missing")
            self._tell(body, "This request no longer exists; nothing changed.")
            return
        allowed = self.approvers.may_approve(user) or (
            verdict == "deny" and user == request.requested_by)
        if not allowed:
            audit(self.redis, who=user, what=verdict, alert_id=request.alert_id,
                  action_id=request.id, result="refused:not_approver")
            self._tell(body, f"You are not an approver ({escape(self.approvers.describe())}); "
                             "nothing changed.")
            return
        decision = self.actions.decide(request.id, user, token, verdict)
        audit(self.redis, who=user, what=verdict, alert_id=request.alert_id,
              action_id=request.id, result=decision.outcome)
        current = decision.action or request
        alert = self.alerts.get(request.alert_id)
        if alert is not None and (decision.accepted or decision.outcome == "expired"):
            self._update_approval(current, alert)
        if not decision.accepted:
            self._tell(body, explain(decision, current))
            return
        if alert is not None and decision.outcome in ("approved", "denied"):
            self._update_alert(alert, alert.slack_channel, alert.slack_ts)

    # --- helpers ---------------------------------------------------------------------------

    def on_error(self, error: Exception, body: Body) -> None:
        """Log the failure with a reference, and tell the clicking user without internals."""
        ref = token_source.token_hex(4)
        log.error("listener failed (ref %s)", ref, exc_info=error)
        try:
            self._tell(body, f"Sorry, that failed (ref {ref}); it has been logged. "
                             "Check the alert's current state before trying again.")
        except Exception:  # the error path must never raise
            log.exception("could not tell the user about failure %s", ref)

    def _tell(self, body: Body, text: str) -> None:
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id")
        if channel and user:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    @staticmethod
    def _where(alert: Alert, body: Body) -> tuple[str, str]:
        """The alert message's channel and ts: as stored, else from a click on that message."""
        channel = alert.slack_channel or (body.get("channel") or {}).get("id", "")
        ts = alert.slack_ts or (body.get("container") or {}).get("message_ts", "")
        return channel, ts

    def _update_alert(self, alert: Alert, channel: str, ts: str) -> None:
        if not (channel and ts):
            return
        fresh = self.alerts.get(alert.id) or alert
        self.client.chat_update(channel=channel, ts=ts, **blocks.alert_message(
            fresh, self.actions.for_alert(alert.id), lookup=self.lookup))

    def _update_approval(self, action: Action, alert: Alert) -> None:
        if action.slack_channel and action.slack_ts:
            self.client.chat_update(channel=action.slack_channel, ts=action.slack_ts,
                                    **blocks.approval_message(action, alert))


def explain(decision: Decision, action: Action) -> str:
    """What a refused approve/deny click means, and what to do next."""
    outcome = decision.outcome
    if outcome == "stale":
        return "This button was already used (replayed or double click); nothing changed."
    if outcome == "own":
        return "You requested this; another approver must approve it. Nothing changed."
    if outcome == "already":
        waiting = max(action.approvals_required - len(action.approvals), 0)
        return f"You already approved; waiting for {waiting} more approval(s)."
    if outcome == "expired":
        return (f"This request expired at {utc(action.expires_at)}; "
                "request again from the alert.")
    if outcome == "closed":
        return f"This request is already {escape(action.status)}; nothing changed."
    return "This request no longer exists; nothing changed."
