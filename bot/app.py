"""The Bolt app: buttons on alerts and approval requests, the false-positive modal, the
"was this you?" answers, the ``/soc`` command and the App Home tab.

Built by :func:`build_app` so tests (and Socket Mode or HTTP mode) can hand it a ``WebClient``
pointed anywhere. Every listener calls ``ack()`` first and then does a few Redis and Web API
calls; a playbook never runs here: an approved request is queued on ``{soc}:actions`` for the
playbook runner.

Clicks can be replayed (Slack's signature has no nonce) or double-clicked, so every listener is
idempotent: alert transitions are compare-and-set in :class:`core.alerts.AlertStore`, and the
approval buttons carry a one-shot token checked by :meth:`core.actions.ActionStore.decide`.
Every change, and every refused attempt, is written to the audit stream.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets as token_source
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from slack_bolt import Ack, App
from slack_bolt.logger.messages import (
    warning_client_prioritized_and_token_skipped,
    warning_token_skipped,
)
from slack_sdk import WebClient

from socbot.bot import blocks, params, rollup_blocks, tickets, views
from socbot.bot.approvers import Approvers
from socbot.bot.blocks import PlaybookLookup, mention, utc
from socbot.bot.escape import escape, escape_truncate
from socbot.bot.gate import Gate
from socbot.bot.remediation import RemediationListeners, SessionSource, from_home
from socbot.bot.render import AlertRenderer, mute_entity, render_lock
from socbot.bot.rollup import RollupStore
from socbot.bot.rollup_listeners import DIRTY, RollupListeners
from socbot.bot.slash import SocCommand, playbook_line
from socbot.bot.verify import Verifier
from socbot.bot.workspace import Workspace
from socbot.core import keys
from socbot.core.actions import ActionStore
from socbot.core.alerts import Alert, AlertStore
from socbot.core.audit import audit
from socbot.core.config import Secrets, Settings
from socbot.core.eventstore import EventStore
from socbot.core.mutes import MuteStore
from socbot.core.streams import decode
from socbot.enrichment.enricher import stored_labels

log = logging.getLogger(__name__)

TICKET_TTL_S = 90 * 86400  # as long as an action record

Body = dict[str, Any]


def build_app(settings: Settings, secrets: Secrets, client: WebClient, redis_client: redis.Redis,
              *, process_before_response: bool = False,
              playbook_lookup: PlaybookLookup | None = None,
              playbook_list: Callable[[], list[Any]] | None = None,
              verifier: Verifier | None = None, workspace: Workspace | None = None,
              sessions: SessionSource | None = None) -> App:
    """Create the Bolt app with its listeners.

    ``playbook_lookup`` finds a playbook class by name (``.approvals_required``,
    ``.description``); the default is :func:`playbooks.registry.get`. ``playbook_list`` lists
    them for ``/soc playbooks`` (default :func:`playbooks.registry.all_playbooks`).
    Every request first passes the :class:`bot.gate.Gate` (allowed workspace, first delivery).
    ``sessions`` (a :class:`playbooks.session.SessionFactory`) lets the parameters preview show
    a read-only dry run of the playbook; without it the preview says what will be requested.
    """
    workspace = workspace or Workspace(settings.slack.workspace, client)
    # Bolt gets a client without the token (it takes the token from ``authorize``, which
    # calls auth.test once per process, not once per thread until the first answer).
    with _quiet_token_notice():
        app = App(client=WebClient(base_url=client.base_url, timeout=client.timeout,
                                   retry_handlers=client.retry_handlers),
                  signing_secret=secrets.slack_signing_secret or None,
                  authorize=workspace.authorizer(),
                  process_before_response=process_before_response)
    app.use(Gate(workspace, redis_client, client))
    listeners = Listeners(settings, client, redis_client,
                          playbook_lookup or blocks.registry_lookup,
                          playbook_list or _all_playbooks, verifier)
    listeners.sessions = sessions
    app.action(blocks.ACK)(listeners.acknowledge)
    app.action(blocks.RESOLVE)(listeners.resolve)
    app.action(blocks.FALSE_POSITIVE)(listeners.false_positive)
    app.view(views.FALSE_POSITIVE_VIEW)(listeners.false_positive_submitted)
    app.action(re.compile(rf"{blocks.MUTE}_\d+"))(listeners.mute)
    app.action(blocks.REQUEST)(listeners.request_playbook)
    app.view(params.PARAMS_VIEW)(listeners.params_submitted)
    app.view(params.PREVIEW_VIEW)(listeners.preview_submitted)
    app.action(blocks.UNDO)(listeners.request_undo)
    app.action(blocks.TICKET)(listeners.create_ticket)
    app.action(blocks.APPROVE)(listeners.approve)
    app.action(blocks.DENY)(listeners.deny)
    app.action(views.VERIFY_YES)(listeners.verify_yes)
    app.action(views.VERIFY_NO)(listeners.verify_no)
    rollups = RollupListeners(listeners)
    app.action(rollup_blocks.PICK)(rollups.pick)
    app.action(rollup_blocks.ACK_ALL)(rollups.acknowledge_all)
    app.action(re.compile(rf"{rollup_blocks.MUTE_ALL}_\d+"))(rollups.mute_all)
    app.command("/soc")(listeners.soc)
    app.event("app_home_opened")(listeners.home_opened)
    app.error(listeners.on_error)
    return app


class _DropTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and warns that it will not
    use it, since the token comes from ``authorize``: true, expected, and noise at every start."""

    NOTICES = frozenset({warning_client_prioritized_and_token_skipped(),
                         warning_token_skipped()})

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.NOTICES


@contextmanager
def _quiet_token_notice() -> Iterator[None]:
    bolt_log = logging.getLogger("slack_bolt.App")
    notice = _DropTokenNotice()
    bolt_log.addFilter(notice)
    try:
        yield
    finally:
        bolt_log.removeFilter(notice)


def _all_playbooks() -> list[Any]:
    from socbot.playbooks.registry import all_playbooks

    return list(all_playbooks())


def _rule_ids() -> set[str]:
    from socbot.detections.rule import load_all

    return set(load_all())


class Listeners(RemediationListeners):
    """The listeners. Each reads ``user.id`` from the payload and nothing else of who."""

    def __init__(self, settings: Settings, client: WebClient, redis_client: redis.Redis,
                 playbook_lookup: PlaybookLookup,
                 playbook_list: Callable[[], list[Any]] = _all_playbooks,
                 verifier: Verifier | None = None) -> None:
        self.settings = settings
        self.client = client
        self.redis = redis_client
        self.alerts = AlertStore(redis_client)
        self.actions = ActionStore(redis_client)
        self.mutes = MuteStore(redis_client)
        self.approvers = Approvers(settings, client)
        self.lookup = playbook_lookup
        self.playbook_list = playbook_list
        # Listeners redraw with the enrichment the notifier stored; they never compute it.
        self.renderer = AlertRenderer(settings, self.actions, self.mutes, playbook_lookup,
                                      enrichment=lambda alert: stored_labels(redis_client,
                                                                             alert.id))
        self.verifier = verifier or Verifier(settings, client, redis_client, self.alerts,
                                             self.mutes)
        self.events = EventStore(redis_client, retention_s=settings.events.retention_hours * 3600,
                                 max_events=settings.events.max_events)
        self.soc_command = SocCommand(redis_client, self.alerts, self.mutes, self.events,
                                      self.approvers, self.renderer, playbook_list, _rule_ids)

    # --- alert buttons ---------------------------------------------------------------------

    def acknowledge(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Acknowledge: update the alert in place and say so in its thread, once."""
        ack()
        user, alert_id = body["user"]["id"], str(action.get("value", ""))
        self._transition(body, alert_id, "acknowledged", "ack",
                         lambda: f"Acknowledged by {mention(user)}")

    def resolve(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Resolve (responders only): the alert leaves the open list."""
        ack()
        user, alert_id = body["user"]["id"], str(action.get("value", ""))
        if not self._may_respond(body, "resolve", alert_id):
            return
        self._transition(body, alert_id, "resolved", "resolve",
                         lambda: f"Resolved by {mention(user)}")

    def false_positive(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """False positive (responders only): a modal asks why before anything changes."""
        ack()
        alert_id = str(action.get("value", ""))
        if not self._may_respond(body, "false_positive", alert_id):
            return
        alert = self.alerts.get(alert_id)
        if alert is None or alert.status not in ("open", "acknowledged"):
            self._tell(body, self._refusal_text(alert))
            return
        origin = {"channel": (body.get("channel") or {}).get("id", ""),
                  "home": "1" if from_home(body) else ""}
        self.client.views_open(trigger_id=body["trigger_id"],
                               view=views.false_positive_modal(alert, origin))

    def false_positive_submitted(self, ack: Ack, body: Body, view: dict[str, Any]) -> None:
        """The modal's submission: a reason is required; then the alert is closed with it."""
        reason = str(((view.get("state") or {}).get("values") or {}).get(
            views.REASON_BLOCK, {}).get(views.REASON_ACTION, {}).get("value") or "").strip()
        if len(reason) < 3:
            ack(response_action="errors",
                errors={views.REASON_BLOCK: "Say in a few words why (at least 3 characters)."})
            return
        ack()
        user = body["user"]["id"]
        try:
            origin = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            origin = {}
        alert_id = str(origin.get("alert_id", ""))
        # The modal was opened for an allowed user, but the submission is a request of its own.
        fake_body: Body = {"user": {"id": user}, "channel": {"id": origin.get("channel", "")}}
        if origin.get("home"):
            fake_body["container"] = {"type": "view"}
        if not self._may_respond(fake_body, "false_positive", alert_id):
            return
        self._transition(fake_body, alert_id, "false_positive", "false_positive",
                         lambda: f"Marked false positive by {mention(user)}: "
                                 f"{escape_truncate(reason, views.REASON_MAX)}",
                         reason=reason[:views.REASON_MAX])

    def mute(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Mute 1 h / 24 h (responders only): silence the rule for this entity, expiring."""
        ack()
        user = body["user"]["id"]
        alert_id, _, hours_text = str(action.get("value", "")).partition("|")
        if not self._may_respond(body, "mute", alert_id):
            return
        alert = self.alerts.get(alert_id)
        # Compared as text: a forged value such as "²" passes isdigit() but breaks int().
        offered = {str(h): h for h in self.settings.slack.mute_hours}
        hours = offered.get(hours_text, 0)
        if alert is None or not hours:
            audit(self.redis, who=user, what="mute", alert_id=alert_id[:40],
                  result="refused:invalid")
            self._tell(body, "This mute is not offered on this alert; nothing changed.")
            return
        entity = mute_entity(alert)
        current = self.mutes.is_muted(alert.rule_id, entity)
        if current is not None:
            audit(self.redis, who=user, what="mute", alert_id=alert_id, result="refused:muted")
            self._tell(body, f"Already muted until {utc(current.until)} by "
                             f"{mention(current.by)}; nothing changed.")
            return
        mute = self.mutes.mute(alert.rule_id, entity, seconds=hours * 3600, by=user,
                               reason=f"Mute button on alert {alert.id}")
        audit(self.redis, who=user, what="mute", alert_id=alert_id, result=f"{hours}h")
        self._changed(alert, body, f":mute: Muted for {hours} h by {mention(user)} "
                                   f"(until {utc(mute.until)}): no new alerts from "
                                   f"`{escape(alert.rule_id)}` for {escape(entity)}")

    def create_ticket(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """Create ticket (responders only): one Jira issue per alert, linked in its thread."""
        ack()
        user, alert_id = body["user"]["id"], str(action.get("value", ""))[:40]
        if not self._may_respond(body, "ticket", alert_id):
            return
        alert = self.alerts.get(alert_id)
        jira = self.settings.tickets.jira
        if alert is None or not jira.enabled:
            self._tell(body, "This alert no longer exists; nothing was filed." if alert is None
                       else "No ticket system is configured (tickets.jira); nothing was filed.")
            return
        marker = keys.ticket(alert.id)
        if not self.redis.set(marker, "creating", nx=True, ex=TICKET_TTL_S):
            existing = decode(self.redis.get(marker) or b"")
            audit(self.redis, who=user, what="ticket", alert_id=alert.id,
                  result=f"refused:exists:{existing[:20]}")
            self._tell(body, "A ticket for this alert is being filed; see the thread in a "
                             "moment." if existing == "creating" else
                             f"This alert already has ticket {escape(existing)}; see the "
                             "alert's thread. Nothing was filed.")
            return
        summary, description = tickets.ticket_text(alert)
        try:
            client = tickets.JiraClient(jira, os.environ.get(jira.token_env, ""))
            issue = client.create(summary=summary, description=description,
                                  labels=["socbot", f"socbot-{alert.id}"])
        except tickets.TicketError as exc:
            self.redis.delete(marker)  # nothing was filed: a later click may try again
            audit(self.redis, who=user, what="ticket", alert_id=alert.id,
                  result=f"failed: {exc}"[:300])
            self._tell(body, f"Could not file the ticket: {escape(str(exc))}. Nothing was "
                             "filed; try again once that is fixed.")
            return
        self.redis.set(marker, issue, ex=TICKET_TTL_S)
        audit(self.redis, who=user, what="ticket", alert_id=alert.id, result=issue)
        channel, ts = self._where(alert, body)
        if channel and ts:
            self.client.chat_postMessage(
                channel=channel, thread_ts=ts, unfurl_links=False, unfurl_media=False,
                text=f":ticket: Jira <{client.browse_url(issue)}|{issue}> filed by "
                     f"{mention(user)}")

    def _transition(self, body: Body, alert_id: str, status: str, what: str,
                    line: Callable[[], str], reason: str = "") -> None:
        user = body["user"]["id"]
        done, previous = self.alerts.transition(alert_id, status, user, reason)
        audit(self.redis, who=user, what=what, alert_id=alert_id[:40],
              result="ok" if done else f"refused:{previous}")
        alert = self.alerts.get(alert_id)
        if alert is None or not done:
            self._tell(body, self._refusal_text(alert))
            return
        self._changed(alert, body, line())

    @staticmethod
    def _refusal_text(alert: Alert | None) -> str:
        if alert is None:
            return "This alert no longer exists; nothing changed."
        return (f"Already {escape(alert.status.replace('_', ' '))} by "
                f"{mention(alert.status_by)} at {utc(alert.status_at)}; nothing changed.")

    def _may_respond(self, body: Body, what: str, alert_id: str) -> bool:
        user = body["user"]["id"]
        if self.approvers.may_respond(user):
            return True
        audit(self.redis, who=user, what=what, alert_id=alert_id[:40],
              result="refused:not_responder")
        self._tell(body, f"Only the {escape(self.approvers.describe_responders())} can do "
                         "this; nothing changed.")
        return False

    def _changed(self, alert: Alert, body: Body, line: str) -> None:
        """After a change: update the alert's message, add a line to its thread (the
        timeline) and refresh the Home tab of a user who clicked there."""
        channel, ts = self._where(alert, body)
        self._update_alert(alert, channel, ts)
        if channel and ts:
            self.client.chat_postMessage(channel=channel, thread_ts=ts, text=line,
                                         unfurl_links=False, unfurl_media=False)
        storm = RollupStore(self.redis).of([alert.id]).get(alert.id)
        if storm:  # the storm's message lists this alert's state: the notifier redraws it
            self.redis.hincrby(DIRTY, storm, 1)
        if from_home(body):
            self.publish_home(body["user"]["id"])

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
        """Tell only the clicking user: an ephemeral message, or a notice on their Home tab
        when the click came from there (ephemeral messages need a channel)."""
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id")
        if user and from_home(body):
            self.publish_home(user, notice=f":warning: {text}")
        elif channel and user:
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
        with render_lock(self.redis, alert.id):
            fresh = self.alerts.get(alert.id) or alert
            self.client.chat_update(channel=channel, ts=ts, **self.renderer.message(fresh))

    # --- was this you? --------------------------------------------------------------------

    def verify_yes(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """"Yes, it was me": only the person asked may answer."""
        ack()
        self._verify(body, str(action.get("value", "")), "yes")

    def verify_no(self, ack: Ack, body: Body, action: dict[str, Any]) -> None:
        """"No, it wasn't me": pages the on-call group in the alert's thread."""
        ack()
        self._verify(body, str(action.get("value", "")), "no")

    def _verify(self, body: Body, alert_id: str, answer: str) -> None:
        user = body["user"]["id"]
        outcome = self.verifier.answer(alert_id[:40], user, answer)
        if outcome == "not_subject":
            self._tell(body, "Only the person this question was sent to can answer it; "
                             "nothing changed.")
        elif outcome.startswith("closed:"):
            state = outcome.partition(":")[2]
            self._tell(body, f"This question was already closed ({escape(state)}); "
                             "nothing changed.")
        elif outcome == "missing":
            self._tell(body, "This question no longer exists; nothing changed.")
        else:
            alert = self.alerts.get(alert_id)
            if alert is not None:
                self._update_alert(alert, alert.slack_channel, alert.slack_ts)

    # --- /soc and App Home ------------------------------------------------------------------

    def soc(self, ack: Ack, command: dict[str, Any]) -> None:
        """``/soc ...``: answered in the acknowledgement, visible only to the user."""
        answer = self.soc_command.answer(str(command.get("text", "")),
                                         str(command.get("user_id", "")))
        ack(**answer.response())

    def home_opened(self, event: dict[str, Any]) -> None:
        """``app_home_opened``: publish the user's Home tab."""
        if event.get("tab", "home") == "home" and event.get("user"):
            self.publish_home(str(event["user"]))

    def publish_home(self, user: str, notice: str = "") -> None:
        """Publish the Home tab (open alerts by severity, with their buttons) for ``user``."""
        alerts = self.alerts.open_alerts(limit=200)
        view = views.home_view(alerts, self.renderer.extras, lookup=self.lookup,
                               mute_hours=self.settings.slack.mute_hours, notice=notice,
                               playbooks=[playbook_line(p) for p in self.playbook_list()],
                               tickets=self.settings.tickets.jira.enabled)
        self.client.views_publish(user_id=user, view=view)
