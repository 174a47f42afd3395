"""The Bolt app over HTTP: real Bolt, real WebClient, real Redis, a fake Slack Web API.

Each test posts an alert through the notifier (so Slack holds a real message to update), then
sends signed ``block_actions`` requests to the app served by ``bot.http`` and asserts on what
the fake Slack server received and on Redis.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import redis
from fake_slack import (
    FakeSlack,
    Reply,
    block_action_body,
    button_value,
    buttons,
    signed_post,
    strings,
)
from slack_sdk.signature import SignatureVerifier

from socbot.bot.app import build_app
from socbot.bot.http import RefusalLog, serve
from socbot.bot.notifier import SlackNotifier, make_web_client
from socbot.core.actions import ActionStore
from socbot.core.alerts import AlertStore, Signal
from socbot.core.config import Approvals, Secrets, Settings
from socbot.core.streams import ACTIONS, AUDIT
from socbot.playbooks.base import Playbook
from socbot.playbooks.registry import PlaybookRegistry, get

SECRET = "test-signing-secret"
REQUESTER, BOB, CAROL, DAVE, MALLORY = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0MALLORY"


class IsolateForTest(Playbook):
    """A destructive playbook for tests: it only declares, so it needs two approvers."""

    name = "isolate-for-test"
    description = "Isolate the instance"
    required_fields = ("cloud.account.id", "cloud.region", "instance_id")
    permissions = ("ec2:ModifyInstanceAttribute",)
    approvals_required = 2
    destructive = True


@dataclass
class Bot:
    """The app served over HTTP, plus the parts a test looks at."""

    slack: FakeSlack
    url: str
    redis: redis.Redis
    alerts: AlertStore
    actions: ActionStore
    notifier: SlackNotifier
    users: ClassVar[dict[str, str]] = {}

    def alert(self, **overrides: Any) -> str:
        """Record an alert and post it to Slack (as the notifier does); return its id."""
        values: dict[str, Any] = {
            "rule_id": "cloudtrail.sg_open_to_world", "title": "Security group open to the world",
            "severity": "high", "dedup_key": f"sg-{time.time_ns()}",
            "entity": {"type": "security_group", "value": "sg-0123456789abcdef0"},
            "event_ids": ["ev-1"],
            "timestamp": time.time(), "dataset": "cloudtrail",
            "context": {"cloud.account.id": "123456789012", "cloud.region": "eu-west-1",
                     "instance_id": "i-0123456789abcdef0"},
            "playbooks": ["revoke-world-ingress", "isolate-for-test"]}
        values.update(overrides)
        alert_id, _ = self.alerts.record(Signal(**values))
        self.notifier.deliver(alert_id)
        return alert_id

    def click(self, user: str, action_id: str, value: str, **kwargs: Any) -> Reply:
        """Send a signed block_actions click; the reply is Bolt's HTTP answer."""
        alert = None
        if action_id in ("alert_ack", "playbook_request"):
            alert = self.alerts.get(value.split("|")[0])
        body = block_action_body(user=user, action_id=action_id, value=value,
                                 channel=alert.slack_channel if alert else "C0ALERTS",
                                 message_ts=alert.slack_ts if alert else "1.1")
        return signed_post(self.url, SECRET, body, **kwargs)

    def request(self, alert_id: str, playbook: str = "revoke-world-ingress") -> str:
        """Request ``playbook`` as REQUESTER; return the new action id once it is posted."""
        before = len(self.actions.for_alert(alert_id))
        assert self.click(REQUESTER, "playbook_request", f"{alert_id}|{playbook}").status == 200
        eventually(lambda: len(self.actions.for_alert(alert_id)) > before
                   and self.actions.for_alert(alert_id)[-1].slack_ts != "")
        return self.actions.for_alert(alert_id)[-1].id

    def approval_value(self, action_id: str) -> str:
        """The value of the Approve button as Slack currently shows it."""
        action = self.actions.get(action_id)
        assert action is not None
        return button_value(self.slack.messages[(action.slack_channel, action.slack_ts)],
                            "approval_approve")

    def ephemerals(self, user: str) -> list[str]:
        """Texts of the ephemeral messages sent to ``user``."""
        return [c.params["text"] for c in self.slack.calls("chat.postEphemeral")
                if c.params["user"] == user]

    def wait_ephemeral(self, user: str, count: int = 1) -> str:
        """Wait for the ``count``-th ephemeral to ``user`` and return its text."""
        eventually(lambda: len(self.ephemerals(user)) >= count)
        return self.ephemerals(user)[count - 1]


def eventually(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` is true (listeners run after Bolt has answered)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis) -> Iterator[Bot]:
    slack.usergroups["S0SECOPS"] = [DAVE]
    settings = Settings(approvals=Approvals(approvers=[REQUESTER, BOB, CAROL],
                                            approver_usergroup="S0SECOPS"))
    secrets = Secrets(slack_bot_token="xoxb-test", slack_signing_secret=SECRET,
                      slack_api_url=slack.url)
    client = make_web_client(secrets)
    playbooks = PlaybookRegistry()
    playbooks.register(get("revoke-world-ingress"))
    playbooks.register(IsolateForTest)
    app = build_app(settings, secrets, client, redis_client, playbook_lookup=playbooks.get)
    server = serve(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True,
                              kwargs={"poll_interval": 0.05})
    thread.start()
    alerts, actions = AlertStore(redis_client), ActionStore(redis_client)
    notifier = SlackNotifier(settings, client, alerts, actions, post_interval_s=0)
    try:
        yield Bot(slack, f"http://127.0.0.1:{server.server_port}/slack/events", redis_client,
                  alerts, actions, notifier)
    finally:
        server.shutdown()
        server.server_close()


def audit_log(client: redis.Redis) -> list[dict[str, str]]:
    entries: Any = client.xrange(AUDIT)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]


# --- acknowledge -----------------------------------------------------------------------------

def test_ack_updates_the_alert_in_place_and_replies_in_its_thread(bot: Bot) -> None:
    alert_id = bot.alert()
    posted = bot.alerts.get(alert_id)
    assert posted is not None and posted.slack_ts
    assert bot.click(BOB, "alert_ack", alert_id).status == 200

    update = bot.slack.wait_for("chat.update")[0].params
    assert (update["channel"], update["ts"]) == (posted.slack_channel, posted.slack_ts)
    assert f"Acknowledged by <@{BOB}>" in json.dumps(update["blocks"])
    assert "alert_ack" not in [b["action_id"] for b in buttons(update)]
    reply = bot.slack.wait_for("chat.postMessage", 2)[1].params
    assert reply["thread_ts"] == posted.slack_ts and reply["text"] == f"Acknowledged by <@{BOB}>"
    assert bot.alerts.get(alert_id).status == "acknowledged"  # type: ignore[union-attr]
    assert audit_log(bot.redis)[-1] | {"at": ""} == {
        "who": BOB, "what": "ack", "alert_id": alert_id, "action_id": "", "result": "ok",
        "at": ""}


def test_second_ack_gets_an_ephemeral_and_changes_nothing(bot: Bot) -> None:
    alert_id = bot.alert()
    bot.click(BOB, "alert_ack", alert_id)
    bot.slack.wait_for("chat.postMessage", 2)
    bot.click(CAROL, "alert_ack", alert_id)

    assert re.match(rf"Already acknowledged by <@{BOB}> at .* UTC; nothing changed",
                    bot.wait_ephemeral(CAROL))
    bot.slack.settle()
    assert len(bot.slack.calls("chat.update")) == 1
    assert len(bot.slack.calls("chat.postMessage")) == 2
    assert bot.alerts.get(alert_id).status_by == BOB  # type: ignore[union-attr]


# --- requests and approvals ------------------------------------------------------------------

def test_request_opens_an_approval_message_in_the_alert_thread(bot: Bot) -> None:
    alert_id = bot.alert()
    action_id = bot.request(alert_id)

    alert, action = bot.alerts.get(alert_id), bot.actions.get(action_id)
    assert alert is not None and action is not None
    message = bot.slack.calls("chat.postMessage")[-1].params
    assert message["thread_ts"] == alert.slack_ts
    assert (action.slack_channel, action.slack_ts) != ("", "")
    assert button_value(message, "approval_approve") == f"{action_id}:{action.token}"
    assert f"<@{REQUESTER}> requested *revoke-world-ingress*" in json.dumps(message["blocks"])
    assert action.status == "requested" and action.approvals_required == 1
    # The alert loses its Run button while the request is pending.
    update = bot.slack.wait_for("chat.update")[-1].params
    assert "revoke-world-ingress" not in [b["value"].split("|")[-1] for b in buttons(update)]
    assert audit_log(bot.redis)[-1]["what"] == "request"


def test_a_forged_playbook_value_is_refused(bot: Bot) -> None:
    alert_id = bot.alert(playbooks=["revoke-world-ingress"])
    bot.click(REQUESTER, "playbook_request", f"{alert_id}|isolate-for-test")

    assert "not offered on this alert" in bot.wait_ephemeral(REQUESTER)
    assert bot.actions.for_alert(alert_id) == []


def test_the_requester_cannot_approve(bot: Bot) -> None:
    action_id = bot.request(bot.alert())
    bot.click(REQUESTER, "approval_approve", bot.approval_value(action_id))

    assert bot.wait_ephemeral(REQUESTER).startswith("You requested this; another approver")
    assert bot.actions.get(action_id).status == "requested"  # type: ignore[union-attr]
    assert bot.redis.xlen(ACTIONS) == 0


def test_a_non_approver_cannot_approve(bot: Bot) -> None:
    action_id = bot.request(bot.alert())
    bot.click(MALLORY, "approval_approve", bot.approval_value(action_id))

    assert bot.wait_ephemeral(MALLORY).startswith("You are not an approver (approver group "
                                                  "S0SECOPS")
    assert bot.actions.get(action_id).status == "requested"  # type: ignore[union-attr]
    assert audit_log(bot.redis)[-1]["result"] == "refused:not_approver"


def test_a_second_person_approves_and_the_run_is_queued(bot: Bot) -> None:
    action_id = bot.request(bot.alert())
    action = bot.actions.get(action_id)
    assert action is not None
    original = bot.slack.messages[(action.slack_channel, action.slack_ts)]
    bot.click(BOB, "approval_approve", bot.approval_value(action_id))

    eventually(lambda: bot.redis.xlen(ACTIONS) > 0)
    assert bot.actions.get(action_id).status == "approved"  # type: ignore[union-attr]
    queued: Any = bot.redis.xrange(ACTIONS)
    [(_id, entry)] = queued
    assert entry == {b"action_id": action_id.encode()}
    eventually(lambda: bot.slack.messages[(action.slack_channel, action.slack_ts)] != original)
    approval = bot.slack.messages[(action.slack_channel, action.slack_ts)]
    assert f"Approved by <@{BOB}>" in json.dumps(approval["blocks"])
    assert buttons(approval) == []


def test_a_usergroup_member_may_approve(bot: Bot) -> None:
    action_id = bot.request(bot.alert())
    bot.click(DAVE, "approval_approve", bot.approval_value(action_id))

    eventually(lambda: bot.actions.get(action_id).status == "approved")  # type: ignore[union-attr]
    assert len(bot.slack.calls("usergroups.users.list")) == 1


def test_a_replayed_request_changes_nothing_and_is_audited(bot: Bot) -> None:
    action_id = bot.request(bot.alert())
    action = bot.actions.get(action_id)
    assert action is not None
    body = block_action_body(user=BOB, action_id="approval_approve",
                             value=bot.approval_value(action_id), channel=action.slack_channel,
                             message_ts=action.slack_ts)
    timestamp = int(time.time())
    assert signed_post(bot.url, SECRET, body, timestamp=timestamp).status == 200
    bot.slack.wait_for("chat.update", 2)
    bot.slack.settle()
    updates = len(bot.slack.calls("chat.update"))
    assert signed_post(bot.url, SECRET, body, timestamp=timestamp).status == 200

    bot.slack.settle()
    # The replay is refused before any listener: no second effect, and nobody is told that
    # "someone" used the button (the one who clicked did, and was answered the first time).
    assert bot.ephemerals(BOB) == [] and len(bot.slack.calls("chat.update")) == updates
    assert bot.redis.xlen(ACTIONS) == 1
    assert [(e["what"], e["result"]) for e in audit_log(bot.redis)
            if e["who"] == BOB] == [("approve", "approved"), ("approval_approve", "refused:replay")]


def test_a_forged_signature_gets_401_and_changes_nothing(bot: Bot) -> None:
    alert_id = bot.alert()
    body = block_action_body(user=BOB, action_id="alert_ack", value=alert_id)
    forged = SignatureVerifier("not-the-secret").generate_signature(
        timestamp=str(int(time.time())), body=body)

    assert signed_post(bot.url, SECRET, body, signature=forged).status == 401
    bot.slack.settle()
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]
    assert bot.slack.calls("chat.update") == [] and bot.redis.xlen(AUDIT) == 0


def test_refused_signatures_are_logged_at_warning_once_a_minute_per_address(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    body = block_action_body(user=BOB, action_id="alert_ack", value="A1")
    forged = SignatureVerifier("not-the-secret").generate_signature(
        timestamp=str(int(time.time())), body=body)
    with caplog.at_level(logging.WARNING, logger="socbot.bot.http"):
        for _ in range(3):
            assert signed_post(bot.url, SECRET, body, signature=forged).status == 401

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "from 127.0.0.1: bad or stale Slack signature" in warnings[0]


def test_the_refusal_log_reports_how_many_it_kept_quiet() -> None:
    now = [0.0]
    refusals = RefusalLog(interval_s=60, clock=lambda: now[0])
    assert [refusals.refused("192.0.2.1", "/slack/events") for _ in range(3)] == [
        True, False, False]
    assert refusals.refused("198.51.100.2", "/slack/events")  # another address: its own line
    now[0] = 61
    assert refusals.refused("192.0.2.1", "/slack/events")


def test_a_stale_timestamp_gets_401(bot: Bot) -> None:
    alert_id = bot.alert()
    old = int(time.time()) - 301

    assert bot.click(BOB, "alert_ack", alert_id, timestamp=old).status == 401
    bot.slack.settle()
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]


def test_an_expired_request_cannot_be_approved(bot: Bot) -> None:
    action_id = bot.request(bot.alert())
    value = bot.approval_value(action_id)
    bot.redis.hset(ActionStore.key(action_id), "expires_at", time.time() - 1)
    bot.click(BOB, "approval_approve", value)

    assert re.match(r"This request expired at .* UTC; request again from the alert",
                    bot.wait_ephemeral(BOB))
    assert bot.actions.get(action_id).status == "expired"  # type: ignore[union-attr]
    assert bot.redis.xlen(ACTIONS) == 0
    expired = bot.slack.calls("chat.update")[-1].params
    assert "Expired at" in json.dumps(expired["blocks"]) and buttons(expired) == []


def test_a_two_approval_playbook_needs_two_different_people(bot: Bot) -> None:
    action_id = bot.request(bot.alert(), "isolate-for-test")
    first = bot.approval_value(action_id)
    bot.click(BOB, "approval_approve", first)
    bot.slack.wait_for("chat.update", 2)
    second = bot.approval_value(action_id)
    assert second != first  # a fresh one-shot token for the remaining approval
    assert bot.actions.get(action_id).status == "requested"  # type: ignore[union-attr]

    bot.click(BOB, "approval_approve", second)
    assert bot.wait_ephemeral(BOB).startswith("You already approved; waiting for 1 more")
    assert bot.redis.xlen(ACTIONS) == 0

    bot.click(CAROL, "approval_approve", second)
    eventually(lambda: bot.redis.xlen(ACTIONS) > 0)
    action = bot.actions.get(action_id)
    assert action is not None and action.status == "approved"
    assert sorted(action.approvals) == [BOB, CAROL]


def test_an_approver_clicking_after_the_run_is_told_who_approved_and_when_it_ran(
        bot: Bot) -> None:
    action_id = bot.request(bot.alert())
    button = bot.approval_value(action_id)  # what CAROL's screen still shows
    bot.click(BOB, "approval_approve", button)
    eventually(lambda: bot.actions.get(action_id).status == "approved")  # type: ignore[union-attr]
    assert bot.actions.move(action_id, "approved", "running")
    bot.actions.finish(action_id, "succeeded", {"summary": "revoked 1 rule"}, now=1_700_000_000)

    bot.click(CAROL, "approval_approve", button)

    assert re.fullmatch(rf"Already approved by <@{BOB}> at \d{{4}}-\d\d-\d\d \d\d:\d\d UTC "
                        r"and run at 2023-11-14 22:13 UTC: succeeded \(revoked 1 rule\)\. "
                        "Nothing changed.", bot.wait_ephemeral(CAROL))
    assert bot.ephemerals(BOB) == []  # the first clicker is told nothing of the kind


def test_a_click_on_an_outdated_approval_message_says_what_changed(bot: Bot) -> None:
    action_id = bot.request(bot.alert(), "isolate-for-test")
    first = bot.approval_value(action_id)
    bot.click(BOB, "approval_approve", first)
    bot.slack.wait_for("chat.update", 2)

    bot.click(CAROL, "approval_approve", first)  # drawn before BOB's approval

    assert bot.wait_ephemeral(CAROL) == (
        f"This request changed since your screen showed it: 1 of 2 approvals (<@{BOB}>), "
        "waiting for 1 more. The message is refreshed; click again there.")
    assert bot.actions.get(action_id).status == "requested"  # type: ignore[union-attr]
    bot.click(CAROL, "approval_approve", bot.approval_value(action_id))
    eventually(lambda: bot.actions.get(action_id).status == "approved")  # type: ignore[union-attr]


def test_the_requester_can_cancel_and_the_run_button_returns(bot: Bot) -> None:
    alert_id = bot.alert()
    action_id = bot.request(alert_id)
    bot.click(REQUESTER, "approval_deny", bot.approval_value(action_id))

    eventually(lambda: bot.actions.get(action_id).status == "denied")  # type: ignore[union-attr]
    bot.slack.settle()
    texts = [json.dumps(c.params["blocks"]) for c in bot.slack.calls("chat.update")]
    assert any(f"Cancelled by <@{REQUESTER}>" in t for t in texts)
    alert_update = bot.slack.calls("chat.update")[-1].params
    assert f"{alert_id}|revoke-world-ingress" in [b["value"] for b in buttons(alert_update)]


def test_a_failure_is_logged_and_the_user_told_without_internals(bot: Bot) -> None:
    alert_id = bot.alert()
    bot.slack.fail_next("chat.update", status=500)
    bot.click(BOB, "alert_ack", alert_id)

    text = bot.wait_ephemeral(BOB)
    assert re.fullmatch(r"Sorry, that failed \(ref [0-9a-f]{8}\); it has been logged\. "
                        r"Check the alert's current state before trying again\.", text)


def test_hostile_strings_never_render_as_mentions_or_links(bot: Bot) -> None:
    hostile = "<!channel> <!subteam^S1> <https://evil.example|Approve> &lt; \x00nul"
    alert_id = bot.alert(title=f"Login by {hostile}", entity={"type": "user", "value": hostile},
                         context={"ssid": f"cafe\x00{hostile}", "user_agent": hostile})
    bot.click(BOB, "alert_ack", alert_id)
    bot.slack.wait_for("chat.update")
    bot.request(alert_id)
    bot.slack.settle()  # the thread line and the re-render may follow the request's return

    sent = [c for c in bot.slack.log if c.method.startswith("chat.")]
    assert len(sent) >= 4
    for call in sent:
        for text in strings({k: call.params.get(k) for k in ("text", "blocks")}):
            assert "\x00" not in text
            for token in re.findall(r"<([^>]*)>", text):
                assert re.fullmatch(r"@[UW][A-Z0-9]+", token), (call.method, token)
    first = bot.slack.calls("chat.postMessage")[0].params
    assert "&amp;lt;" in first["text"] and "&lt;!subteam^S1&gt;" in first["text"]


def test_health_check_answers_ok(bot: Bot) -> None:
    url = bot.url.replace("/slack/events", "/healthz")
    with urllib.request.urlopen(url, timeout=5) as response:
        assert (response.status, response.read()) == (200, b"ok")


def test_the_interactive_path_is_an_alias(bot: Bot) -> None:
    alert_id = bot.alert()
    body = block_action_body(user=BOB, action_id="alert_ack", value=alert_id)
    url = bot.url.replace("/slack/events", "/slack/interactive")
    assert signed_post(url, SECRET, body).status == 200
    bot.slack.wait_for("chat.update")


def test_http_mode_refuses_to_start_without_a_signing_secret(slack: FakeSlack,
                                                             redis_client: redis.Redis) -> None:
    secrets = Secrets(slack_bot_token="xoxb-test", slack_api_url=slack.url)
    app = build_app(Settings(), secrets, make_web_client(secrets), redis_client,
                    playbook_lookup=get)
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        serve(app, "127.0.0.1", 0)
