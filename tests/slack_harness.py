"""A bot served over HTTP for the Slack-operation tests: the real Bolt app, notifier,
escalation and "was this you?" flows, a fake Slack Web API, real Redis, and a clock the test
moves by hand.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from fake_slack import (
    FakeSlack,
    Reply,
    block_action_body,
    event_body,
    signed_post,
    slash_command_body,
    view_submission_body,
)

from socbot.bot.app import build_app
from socbot.bot.escalation import Escalator
from socbot.bot.http import serve
from socbot.bot.notifier import SlackNotifier, make_web_client
from socbot.bot.verify import Verifier
from socbot.core.actions import ActionStore
from socbot.core.alerts import AlertStore, Signal
from socbot.core.config import Secrets, Settings
from socbot.core.mutes import MuteStore
from socbot.playbooks.registry import PlaybookRegistry, get

SECRET = "harness-signing-secret"
RESPONDER, APPROVER, ONCALL_MEMBER, MALLORY = "U0RESP", "U0APPR", "U0ONCALL", "U0MALLORY"
ONCALL = "S0ONCALL"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@dataclass
class Harness:
    """The served app and the parts a test looks at."""

    slack: FakeSlack
    url: str
    redis: redis.Redis
    alerts: AlertStore
    actions: ActionStore
    mutes: MuteStore
    notifier: SlackNotifier
    escalator: Escalator
    verifier: Verifier
    clock: Clock

    def alert(self, **overrides: Any) -> str:
        """Record an alert and post it as the notifier does; return its id."""
        values: dict[str, Any] = {
            "rule_id": "secure.ssh_brute_force", "title": "SSH brute force from 203.0.113.7",
            "severity": "high", "dedup_key": f"203.0.113.{time.time_ns() % 250}",
            "entity": {"type": "ip", "value": "203.0.113.7"}, "event_ids": ["ev-1"],
            "timestamp": time.time(), "dataset": "secure",
            "context": {"source.ip": "203.0.113.7", "host.name": "bastion"},
            "playbooks": []}
        values.update(overrides)
        alert_id, _ = self.alerts.record(Signal(**values))
        self.notifier.deliver(alert_id)
        return alert_id

    def posted(self, alert_id: str) -> tuple[str, str]:
        """The alert message's channel and ts."""
        alert = self.alerts.get(alert_id)
        assert alert is not None and alert.slack_ts
        return alert.slack_channel, alert.slack_ts

    def click(self, user: str, action_id: str, value: str, *, home: bool = False,
              channel: str | None = None, ts: str | None = None, **kwargs: Any) -> Reply:
        """A signed block_actions click on the alert message (or the Home tab)."""
        alert = self.alerts.get(value.split("|")[0])
        body = block_action_body(
            user=user, action_id=action_id, value=value, home=home,
            channel=channel or (alert.slack_channel if alert else "C0ALERTS"),
            message_ts=ts or (alert.slack_ts if alert else "1.1"))
        return signed_post(self.url, SECRET, body, **kwargs)

    def command(self, user: str, text: str) -> dict[str, Any]:
        """Send ``/soc text`` signed; return the JSON answer (the acknowledgement)."""
        reply = signed_post(self.url, SECRET, slash_command_body(user=user, text=text))
        assert reply.status == 200, reply
        return dict(json.loads(reply.body))

    def submit(self, user: str, callback_id: str, values: dict[str, dict[str, str]],
               private_metadata: str) -> Reply:
        """Submit a modal, signed."""
        return signed_post(self.url, SECRET, view_submission_body(
            user=user, callback_id=callback_id, values=values,
            private_metadata=private_metadata))

    def event(self, event: dict[str, Any]) -> Reply:
        """Deliver an Events API event, signed."""
        return signed_post(self.url, SECRET, event_body(event))

    def ephemerals(self, user: str) -> list[str]:
        """Texts of the ephemeral messages sent to ``user``."""
        return [c.params["text"] for c in self.slack.calls("chat.postEphemeral")
                if c.params["user"] == user]

    def wait_ephemeral(self, user: str, count: int = 1) -> str:
        """Wait for the ``count``-th ephemeral to ``user``; return its text."""
        eventually(lambda: len(self.ephemerals(user)) >= count)
        return self.ephemerals(user)[count - 1]

    def thread(self, alert_id: str) -> list[str]:
        """Texts posted in the alert's thread, oldest first."""
        _channel, ts = self.posted(alert_id)
        return [c.params.get("text", "") for c in self.slack.calls("chat.postMessage")
                if c.params.get("thread_ts") == ts]

    def message(self, alert_id: str) -> dict[str, Any]:
        """The alert message as Slack holds it now."""
        return self.slack.messages[self.posted(alert_id)]


def eventually(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` is true (listeners run after Bolt has answered)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def default_settings(**slack: Any) -> Settings:
    """Approver, on-call group and whatever the test adds to the ``slack`` section."""
    return Settings.model_validate({
        "slack": {"oncall_usergroup": ONCALL, **slack},
        "approvals": {"approvers": [APPROVER]}})


@contextmanager
def harness(slack: FakeSlack, client: redis.Redis,
            settings: Settings | None = None) -> Iterator[Harness]:
    """Serve the app on a free port for the duration of a test."""
    settings = settings or default_settings()
    slack.usergroups[ONCALL] = [ONCALL_MEMBER, RESPONDER]
    secrets = Secrets(slack_bot_token="xoxb-test", slack_signing_secret=SECRET,
                      slack_api_url=slack.url)
    web = make_web_client(secrets)
    clock = Clock()
    alerts, actions, mutes = AlertStore(client), ActionStore(client), MuteStore(client)
    verifier = Verifier(settings, web, client, alerts, mutes, clock=clock)
    escalator = Escalator(settings, web, client, alerts, verifier, clock=clock)
    playbooks = PlaybookRegistry()
    playbooks.register(get("revoke-world-ingress"))
    app = build_app(settings, secrets, web, client, playbook_lookup=playbooks.get,
                    playbook_list=playbooks.all_playbooks, verifier=verifier)
    server = serve(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True,
                              kwargs={"poll_interval": 0.05})
    thread.start()
    notifier = SlackNotifier(settings, web, alerts, actions, post_interval_s=0,
                             update_interval_s=0, mutes=mutes,
                             on_posted=[escalator.schedule, verifier.start])
    try:
        yield Harness(slack, f"http://127.0.0.1:{server.server_port}/slack/events", client,
                      alerts, actions, mutes, notifier, escalator, verifier, clock)
    finally:
        server.shutdown()
        server.server_close()
