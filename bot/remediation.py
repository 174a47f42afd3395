"""The remediation listeners: Run (with the parameters modal and its preview), Undo, and the
Approve / Deny buttons of an approval request. Mixed into :class:`bot.app.Listeners`, which
provides the stores and the ``_tell`` / ``_where`` / ``_update_alert`` helpers.

A playbook never runs here: the approval that completes a request queues it on
``{soc}:actions`` (atomically, in :meth:`core.actions.ActionStore.decide`) for the runner.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import redis
from slack_bolt import Ack
from slack_sdk import WebClient

from socbot.bot import blocks, params, views
from socbot.bot.approvers import Approvers
from socbot.bot.blocks import PlaybookLookup
from socbot.bot.decisions import explain
from socbot.bot.escape import escape
from socbot.core import keys
from socbot.core.actions import Action, ActionStore
from socbot.core.alerts import Alert, AlertStore
from socbot.core.audit import audit
from socbot.core.config import Settings
from socbot.core.streams import decode
from socbot.playbooks.base import PlaybookError

if TYPE_CHECKING:
    import boto3

log = logging.getLogger(__name__)

Body = dict[str, Any]

LOCK_S = 30  # a request lock outlives any click's work, and a crashed one


class SessionSource(Protocol):
    """Hands out boto3 sessions for an account and region (a SessionFactory)."""

    def session(self, account_id: str, region: str) -> boto3.Session:
        """A session acting in ``account_id`` / ``region``."""
        ...


class RemediationListeners:
    """Requests, undo and approvals."""

    sessions: SessionSource | None = None  # for the dry run in the parameters preview
    settings: Settings
    client: WebClient
    redis: redis.Redis
    alerts: AlertStore
    actions: ActionStore
    approvers: Approvers
    lookup: PlaybookLookup

    def _tell(self, body: Body, text: str) -> None:
        raise NotImplementedError

    @staticmethod
    def _where(alert: Alert, body: Body) -> tuple[str, str]:
        raise NotImplementedError

    def _update_alert(self, alert: Alert, channel: str, ts: str) -> None:
        raise NotImplementedError

    def request_playbook(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Run button: open an approval request in the alert's thread (nothing runs yet); for
        a playbook with parameters, first a modal to choose them and a preview."""
        ack()
        alert_id, _, name = str(action.get("value", "")).partition("|")
        alert = self._requestable(body, alert_id, name)
        if alert is None:
            return
        playbook = self.lookup(name)
        if params.has_params(playbook):
            channel, ts = self._where(alert, body)
            origin = {"alert_id": alert.id, "playbook": name, "channel": channel, "ts": ts,
                      "home": "1" if from_home(body) else ""}
            self.client.views_open(trigger_id=body["trigger_id"],
                                   view=params.params_modal(playbook, alert, origin))
            return
        self._open_request(body, alert, name, {})

    def params_submitted(self, ack: Ack, body: Body, view: dict[str, Any]) -> None:
        """The parameters modal: check the choices, then show the preview in its place."""
        origin = _metadata(view)
        alert = self.alerts.get(str(origin.get("alert_id", "")))
        name = str(origin.get("playbook", ""))
        if alert is None or self._request_refusal(alert, name):
            ack(response_action="update", view=views.closed_modal(
                self._request_refusal(alert, name) or "This alert no longer exists."))
            return
        playbook = self.lookup(name)
        try:
            chosen = params.parse_submission(playbook, (view.get("state") or {}).get(
                "values") or {}, self.settings)
        except params.ParamError as exc:
            ack(response_action="errors", errors={exc.block_id: str(exc)[:150]})
            return
        where = {k: str(v) for k, v in origin.items() if k != "params"}
        reading = "reading the current state in AWS…" if self.sessions is not None else ""
        ack(response_action="update",
            view=params.preview_modal(playbook, alert, chosen, where, dry_run=reading))
        if self.sessions is None:
            return
        # After the acknowledgement (Slack waits 3 s; AWS may take longer): the dry run, then
        # the same preview with what it found.
        found = self._dry_run(body["user"]["id"], playbook, alert, chosen)
        view_id = str((body.get("view") or {}).get("id") or "")
        if view_id:
            self.client.views_update(view_id=view_id, view=params.preview_modal(
                playbook, alert, chosen, where, dry_run=found))

    def _dry_run(self, user: str, playbook: Any, alert: Alert, chosen: dict[str, Any]) -> str:
        """What the playbook would change now (read-only AWS calls), in one line."""
        assert self.sessions is not None
        try:
            runnable = playbook(chosen, self.settings)
            target = runnable.target(alert.context)
            result = runnable.run(self.sessions.session(target.account_id, target.region),
                                  target, dry_run=True)
            summary = str(result.summary).removeprefix("dry run: ")
        except PlaybookError as exc:
            summary = f"not available: {exc}"
        except Exception as exc:  # AWS unreachable, no credentials...: the request may go on
            log.warning("dry run of %s on alert %s failed: %s", playbook.name, alert.id, exc)
            summary = f"not available ({type(exc).__name__}: {exc})"
        audit(self.redis, who=user, what=f"dry-run:{playbook.name}", alert_id=alert.id,
              result=summary[:500])
        return summary

    def preview_submitted(self, ack: Ack, body: Body, view: dict[str, Any]) -> None:
        """The preview's "Request approval": the request, with the chosen parameters."""
        ack()
        origin = _metadata(view)
        chosen = origin.get("params")
        name = str(origin.get("playbook", ""))
        # The submission is a request of its own: everything is checked again.
        where: Body = {"user": body["user"], "channel": {"id": origin.get("channel", "")},
                       "container": {"message_ts": origin.get("ts", "")}}
        if origin.get("home"):
            where["container"] = {"type": "view"}
        alert = self._requestable(where, str(origin.get("alert_id", "")), name)
        if alert is None:
            return
        try:
            self.lookup(name)(chosen if isinstance(chosen, dict) else {}, self.settings)
        except (PlaybookError, ValueError) as exc:
            self._tell(where, f"Those options are not valid ({escape(str(exc))}); nothing "
                              "was requested.")
            return
        self._open_request(where, alert, name, dict(chosen or {}))

    def _requestable(self, body: Body, alert_id: str, name: str) -> Alert | None:
        """The alert, if ``name`` may be requested on it now; else say why (and audit)."""
        user = body["user"]["id"]
        alert = self.alerts.get(alert_id)
        refusal = self._request_refusal(alert, name)
        if refusal or alert is None:
            audit(self.redis, who=user, what="request", alert_id=alert_id[:40],
                  result=f"refused:{name[:80]}")
            self._tell(body, refusal or "This alert no longer exists; nothing was requested.")
            return None
        return alert

    def _open_request(self, body: Body, alert: Alert, name: str,
                      chosen: dict[str, Any]) -> None:
        user = body["user"]["id"]
        with self._exclusive(keys.request_lock(alert.id, name)) as mine:
            # Checked again under the lock: two clicks at once must not both pass.
            refusal = "" if not mine else self._request_refusal(self.alerts.get(alert.id),
                                                                name)
            if not mine or refusal:
                audit(self.redis, who=user, what="request", alert_id=alert.id,
                      result=f"refused:{name[:80]}")
                self._tell(body, refusal or f"{escape(name)} is being requested on this alert "
                                            "right now; see the alert's thread.")
                return
            playbook = self.lookup(name)
            action_record = self.actions.create(
                alert.id, name, user, params=chosen,
                approvals_required=int(playbook.approvals_for(chosen)),
                expiry_s=self.settings.approvals.expire_minutes * 60)
        channel, ts = self._where(alert, body)
        posted = self.client.chat_postMessage(channel=channel, thread_ts=ts,
                                              **blocks.approval_message(action_record, alert))
        self.actions.set_slack_message(action_record.id, posted["channel"], posted["ts"])
        audit(self.redis, who=user, what="request", alert_id=alert.id,
              action_id=action_record.id, result="requested")
        # Re-render the alert: the Run button goes away while the request is pending.
        self._update_alert(alert, channel, ts)

    @contextmanager
    def _exclusive(self, key: str) -> Iterator[bool]:
        """Hold ``key`` (True) unless another click holds it (False); expires by itself."""
        token = secrets.token_hex(8)
        mine = bool(self.redis.set(key, token, nx=True, ex=LOCK_S))
        try:
            yield mine
        finally:
            if mine and decode(self.redis.get(key) or b"") == token:
                self.redis.delete(key)

    def request_undo(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Undo button on a finished run: a request to reverse it, approved like the run."""
        ack()
        user = body["user"]["id"]
        run_id = str(action.get("value", ""))[:40]
        run = self.actions.get(run_id)
        alert = self.alerts.get(run.alert_id) if run is not None else None
        refusal = self._undo_refusal(run, alert)
        if refusal or run is None or alert is None:
            audit(self.redis, who=user, what="request_undo", action_id=run_id,
                  result="refused")
            self._tell(body, refusal or "This run no longer exists; nothing was requested.")
            return
        playbook = self.lookup(run.playbook)
        with self._exclusive(keys.request_lock(alert.id, f"undo:{run.id}")) as mine:
            refusal = self._undo_refusal(run, alert) if mine else (
                f"Undo of {escape(run.id)} is being requested right now; see the thread.")
            if refusal:
                audit(self.redis, who=user, what="request_undo", action_id=run_id,
                      result="refused")
                self._tell(body, refusal)
                return
            undo = self.actions.create(
                alert.id, run.playbook, user, params=run.params, undo_of=run.id,
                approvals_required=max(run.approvals_required,
                                       int(playbook.approvals_for(run.params))),
                expiry_s=self.settings.approvals.expire_minutes * 60)
        channel, ts = self._where(alert, body)
        posted = self.client.chat_postMessage(channel=channel, thread_ts=ts,
                                              **blocks.approval_message(undo, alert))
        self.actions.set_slack_message(undo.id, posted["channel"], posted["ts"])
        audit(self.redis, who=user, what="request_undo", alert_id=alert.id, action_id=undo.id,
              result=f"requested:{run.id}")

    def _undo_refusal(self, run: Action | None, alert: Alert | None) -> str:
        if run is None or alert is None:
            return "This run no longer exists; nothing was requested."
        try:
            playbook = self.lookup(run.playbook)
        except KeyError:
            return f"Playbook {escape(run.playbook)} is not installed; nothing was requested."
        if not blocks.may_undo(run, playbook):
            return (f"{escape(run.playbook)} run {escape(run.id)} cannot be undone from Slack "
                    "(nothing changed, no undo data, or an undo itself); nothing was requested.")
        earlier = [a for a in self.actions.for_alert(alert.id)
                   if a.undo_of == run.id and (blocks.is_active(a) or a.status == "succeeded")]
        if earlier:
            return (f"Undo of {escape(run.id)} was already requested ({earlier[0].id}, "
                    f"{earlier[0].status}); see the alert's thread.")
        return ""

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
        # Redraw after a change, and after a click on an outdated message (the token moved).
        if alert is not None and (decision.accepted or decision.outcome in ("expired", "stale")):
            self._update_approval(current, alert)
        if not decision.accepted:
            self._tell(body, explain(decision, current, user))
            return
        if alert is not None and decision.outcome in ("approved", "denied"):
            self._update_alert(alert, alert.slack_channel, alert.slack_ts)

    def _update_approval(self, action: Action, alert: Alert) -> None:
        if action.slack_channel and action.slack_ts:
            self.client.chat_update(channel=action.slack_channel, ts=action.slack_ts,
                                    **blocks.approval_message(action, alert))


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    """A modal's ``private_metadata`` (JSON this app wrote), or empty."""
    try:
        found = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def from_home(body: Body) -> bool:
    """True when an interaction came from the App Home tab."""
    return (body.get("container") or {}).get("type") == "view" or (
        (body.get("view") or {}).get("type") == "home")
