"""A bot served for the Slack-operation tests: the real Bolt app, notifier, escalation and
"was this you?" flows, a fake Slack Web API, real Redis, and a clock the test moves by hand.

The app is reached over either transport Slack offers (``harness(..., transport=...)``):
``"http"`` sends signed requests to the app served by :mod:`bot.http`; ``"socket"`` connects
slack_sdk's own Socket Mode client (through Bolt's ``SocketModeHandler``) to the fake Socket
Mode server and sends the same payloads as envelopes. The ``transport`` fixture runs a test
over both.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
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
from fake_socket_mode import SocketModeServer
from slack_bolt.adapter.socket_mode import SocketModeHandler

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
TRANSPORTS = ("http", "socket")


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Run the test over HTTP and over Socket Mode."""
    return str(request.param)


class Transport:
    """How a test's request reaches the app: ``send`` returns the app's answer."""

    name = ""

    def send(self, body: str, *, timestamp: int | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        """Deliver ``body`` (a form or JSON body as Slack would POST it)."""
        raise NotImplementedError


class HttpTransport(Transport):
    """Signed HTTP requests to ``url``; ``timestamp`` reused means the same signature."""

    name = "http"

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, body: str, *, timestamp: int | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        return signed_post(self.url, SECRET, body, timestamp=timestamp, headers=headers)


class SocketTransport(Transport):
    """Envelopes on the fake Socket Mode server; the acknowledgement is the answer.

    A retry header becomes the envelope's ``retry_attempt`` / ``retry_reason``, as Slack sends
    a re-delivery over Socket Mode.
    """

    name = "socket"

    def __init__(self, server: SocketModeServer) -> None:
        self.server = server

    def send(self, body: str, *, timestamp: int | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        retry = {"retry_attempt": int(headers.get("x-slack-retry-num", 0)),
                 "retry_reason": headers.get("x-slack-retry-reason", "")}
        if body.startswith("{"):
            kind, payload = "events_api", json.loads(body)
        else:
            form = dict(urllib.parse.parse_qsl(body))
            if "payload" in form:
                kind, payload = "interactive", json.loads(form["payload"])
            else:
                kind, payload = "slash_commands", form
        ack = self.server.request(kind, payload, **retry)
        answer = ack.get("payload")
        return Reply(200, json.dumps(answer) if answer else "")


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
    transport: Transport
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

    def send(self, body: str, **kwargs: Any) -> Reply:
        """Deliver a raw body over the test's transport (``timestamp``, ``headers``)."""
        return self.transport.send(body, **kwargs)

    def click_body(self, user: str, action_id: str, value: str, *, home: bool = False,
                   channel: str | None = None, ts: str | None = None, **kwargs: Any) -> str:
        """The body of a block_actions click on the alert message (or the Home tab)."""
        alert = self.alerts.get(value.split("|")[0])
        return block_action_body(
            user=user, action_id=action_id, value=value, home=home,
            channel=channel or (alert.slack_channel if alert else "C0ALERTS"),
            message_ts=ts or (alert.slack_ts if alert else "1.1"), **kwargs)

    def click(self, user: str, action_id: str, value: str, *, home: bool = False,
              channel: str | None = None, ts: str | None = None, timestamp: int | None = None,
              **kwargs: Any) -> Reply:
        """A block_actions click on the alert message (or the Home tab); ``kwargs`` go to
        :func:`fake_slack.block_action_body` (``team``, ``enterprise``, ``user_team``)."""
        body = self.click_body(user, action_id, value, home=home, channel=channel, ts=ts,
                               **kwargs)
        return self.send(body, timestamp=timestamp)

    def command(self, user: str, text: str, **kwargs: Any) -> dict[str, Any]:
        """Send ``/soc text``; return the JSON answer (the acknowledgement)."""
        reply = self.send(slash_command_body(user=user, text=text, **kwargs))
        assert reply.status == 200, reply
        return dict(json.loads(reply.body))

    def submit(self, user: str, callback_id: str, values: dict[str, dict[str, Any]],
               private_metadata: str) -> Reply:
        """Submit a modal."""
        return self.send(view_submission_body(
            user=user, callback_id=callback_id, values=values,
            private_metadata=private_metadata))

    def event(self, event: dict[str, Any], *, headers: dict[str, str] | None = None,
              **kwargs: Any) -> Reply:
        """Deliver an Events API event; ``kwargs`` go to :func:`fake_slack.event_body`."""
        return self.send(event_body(event, **kwargs), headers=headers)

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


def eventually(condition: Callable[[], object], timeout: float = 15.0) -> None:
    """Wait until ``condition()`` is true (listeners run after Bolt has answered). Generous:
    on a loaded 2-core machine a listener that checks the approver with Slack and writes Redis
    once took longer than 5 s; a condition met at once costs nothing more."""
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
def harness(slack: FakeSlack, client: redis.Redis, settings: Settings | None = None,
            transport: str = "http",
            playbooks: tuple[str, ...] = ("revoke-world-ingress",),
            sessions: Any = None) -> Iterator[Harness]:
    """Serve the app for the duration of a test: on a free port (``"http"``) or over a
    Socket Mode connection to the fake server (``"socket"``); ``playbooks`` are the ones the
    app knows."""
    settings = settings or default_settings()
    slack.usergroups[ONCALL] = [ONCALL_MEMBER, RESPONDER]
    secrets = Secrets(slack_bot_token="xoxb-test", slack_signing_secret=SECRET,
                      slack_api_url=slack.url)
    web = make_web_client(secrets)
    clock = Clock()
    alerts, actions, mutes = AlertStore(client), ActionStore(client), MuteStore(client)
    verifier = Verifier(settings, web, client, alerts, mutes, clock=clock)
    escalator = Escalator(settings, web, client, alerts, verifier, clock=clock)
    registry = PlaybookRegistry()
    for name in playbooks:
        registry.register(get(name))
    app = build_app(settings, secrets, web, client, playbook_lookup=registry.get,
                    playbook_list=registry.all_playbooks, verifier=verifier, sessions=sessions)
    notifier = SlackNotifier(settings, web, alerts, actions, post_interval_s=0,
                             update_interval_s=0, mutes=mutes,
                             on_posted=[escalator.schedule, verifier.start])
    with _served(app, slack, web, transport) as (url, via):
        yield Harness(slack, url, via, client, alerts, actions, mutes, notifier, escalator,
                      verifier, clock)


@contextmanager
def _served(app: Any, slack: FakeSlack, web: Any,
            transport: str) -> Iterator[tuple[str, Transport]]:
    if transport == "socket":
        handler = SocketModeHandler(app, "xapp-1-A0001-test", web_client=web)
        handler.connect()
        try:
            slack.socket_mode.wait_connected()
            yield "", SocketTransport(slack.socket_mode)
        finally:
            # Stop reconnecting first, then hang up from the server's side so the client's
            # reader wakes now rather than at its 3 s receive timeout.
            handler.client.auto_reconnect_enabled = False
            handler.client.closed = True
            slack.socket_mode.drop()
            handler.close()
        return
    server = serve(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True,
                              kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/slack/events"
    try:
        yield url, HttpTransport(url)
    finally:
        server.shutdown()
        server.server_close()
