"""The gate before every listener, over signed HTTP and over Socket Mode: requests from another
workspace, enterprise or organisation are refused, audited and change nothing; a delivery
counts once however often it arrives; ``auth.test`` is called once per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fake_slack import FakeSlack, button_value, slash_command_body
from slack_harness import MALLORY, RESPONDER, Harness, default_settings, eventually, harness

from socbot.bot.workspace import REFUSALS
from socbot.core.streams import AUDIT

FOREIGN_TEAM, FOREIGN_ENTERPRISE, FOREIGN_USER = "T111", "E111", "W111"
PLAYBOOK = "revoke-world-ingress"


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis, transport: str) -> Iterator[Harness]:
    with harness(slack, redis_client, transport=transport) as running:
        yield running


def audit_entries(bot: Harness) -> list[dict[str, str]]:
    entries: Any = bot.redis.xrange(AUDIT)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]


def refused(bot: Harness, reason: str) -> list[dict[str, str]]:
    return [e for e in audit_entries(bot) if e["result"] == f"refused:{reason}"]


def alert_with_playbook(bot: Harness) -> str:
    return bot.alert(playbooks=[PLAYBOOK], context={
        "source.ip": "203.0.113.7", "cloud.account.id": "123456789012",
        "cloud.region": "eu-west-1", "security_group_id": "sg-0123456789abcdef0"})


# --- whose workspace -------------------------------------------------------------------------

def test_a_click_from_another_workspace_is_refused_audited_and_changes_nothing(
        bot: Harness) -> None:
    alert_id = bot.alert()
    assert bot.click(FOREIGN_USER, "alert_ack", alert_id, team=FOREIGN_TEAM).status == 200

    assert bot.wait_ephemeral(FOREIGN_USER) == REFUSALS["foreign_team"]
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]
    assert [(e["who"], e["what"]) for e in refused(bot, "foreign_team")] == [
        (FOREIGN_USER, "alert_ack")]
    assert bot.slack.calls("chat.update") == []


def test_a_click_from_another_enterprise_is_refused(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.click(FOREIGN_USER, "alert_resolve", alert_id, team=FOREIGN_TEAM,
              enterprise=FOREIGN_ENTERPRISE)

    assert bot.wait_ephemeral(FOREIGN_USER) == REFUSALS["foreign_enterprise"]
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]
    assert len(refused(bot, "foreign_enterprise")) == 1


def test_an_external_member_of_a_shared_channel_sees_the_alert_but_cannot_act(
        bot: Harness) -> None:
    alert_id = bot.alert()
    # Slack Connect: the channel is ours (team T0001), the person's home team is not.
    bot.click(FOREIGN_USER, "alert_ack", alert_id, user_team=FOREIGN_TEAM)

    assert bot.wait_ephemeral(FOREIGN_USER) == REFUSALS["external_member"]
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]
    assert len(refused(bot, "external_member")) == 1


def test_external_members_may_act_where_the_configuration_allows_it(
        slack: FakeSlack, redis_client: redis.Redis, transport: str) -> None:
    settings = default_settings(workspace={"allow_external_members": True})
    with harness(slack, redis_client, settings, transport=transport) as bot:
        alert_id = bot.alert()
        bot.click(FOREIGN_USER, "alert_ack", alert_id, user_team=FOREIGN_TEAM)
        eventually(lambda: bot.alerts.get(alert_id).status == "acknowledged")  # type: ignore[union-attr]


def test_configured_team_ids_replace_the_install_team(
        slack: FakeSlack, redis_client: redis.Redis, transport: str) -> None:
    settings = default_settings(workspace={"team_ids": ["T0002"]})
    with harness(slack, redis_client, settings, transport=transport) as bot:
        alert_id = bot.alert()
        bot.click(RESPONDER, "alert_ack", alert_id)  # from T0001, the install's own team
        assert bot.wait_ephemeral(RESPONDER) == REFUSALS["foreign_team"]
        bot.click(RESPONDER, "alert_ack", alert_id, team="T0002")
        eventually(lambda: bot.alerts.get(alert_id).status == "acknowledged")  # type: ignore[union-attr]


def test_an_org_wide_home_opened_from_another_enterprise_publishes_nothing(
        bot: Harness) -> None:
    bot.alert()
    reply = bot.event({"type": "app_home_opened", "user": FOREIGN_USER, "channel": "D0HOME",
                       "tab": "home", "event_ts": "1.2"},
                      team=FOREIGN_TEAM, enterprise=FOREIGN_ENTERPRISE)

    assert reply.status == 200
    bot.slack.settle()
    assert bot.slack.calls("views.publish") == []
    assert [e["who"] for e in refused(bot, "foreign_enterprise")] == [FOREIGN_USER]


def test_a_slash_command_from_another_workspace_is_answered_with_the_refusal(
        bot: Harness) -> None:
    bot.alert()
    answer = bot.command(FOREIGN_USER, "mute secure.ssh_brute_force 4h", team=FOREIGN_TEAM)

    assert answer["text"] == REFUSALS["foreign_team"]
    assert bot.mutes.active() == []
    assert [e["what"] for e in refused(bot, "foreign_team")] == ["/soc"]


# --- exactly once ----------------------------------------------------------------------------

def test_a_retried_event_has_one_effect(bot: Harness) -> None:
    event = {"type": "app_home_opened", "user": RESPONDER, "channel": "D0HOME", "tab": "home",
             "event_ts": "1.2"}
    first = bot.event(event, event_id="Ev0RETRY1")
    retries = [bot.event(event, event_id="Ev0RETRY1",
                         headers={"X-Slack-Retry-Num": str(n),
                                  "X-Slack-Retry-Reason": "http_timeout"})
               for n in (1, 2, 3)]

    bot.slack.settle()
    assert first.status == 200 and all(r.status == 200 for r in retries)
    assert len(bot.slack.calls("views.publish")) == 1
    if bot.transport.name == "http":  # Slack is asked not to try again
        assert [r.headers.get("x-slack-no-retry") for r in retries] == ["1", "1", "1"]


def test_a_redelivered_slash_command_has_one_effect(bot: Harness) -> None:
    command = slash_command_body(user=RESPONDER, text="mute secure.ssh_brute_force 4h")
    first = bot.send(command)
    again = bot.send(command)  # the same command (its trigger_id), delivered twice

    assert "Muted" in first.body and again.body == ""
    assert len(bot.mutes.active()) == 1


def test_a_replayed_run_click_after_a_cancel_requests_nothing(bot: Harness) -> None:
    alert_id = alert_with_playbook(bot)
    run = bot.click_body(RESPONDER, "playbook_request", f"{alert_id}|{PLAYBOOK}")
    timestamp = int(time.time())
    bot.send(run, timestamp=timestamp)
    eventually(lambda: bot.actions.for_alert(alert_id)
               and bot.actions.for_alert(alert_id)[0].slack_ts)
    request = bot.actions.for_alert(alert_id)[0]
    cancel = button_value(bot.slack.messages[(request.slack_channel, request.slack_ts)],
                          "approval_deny")
    bot.click(RESPONDER, "approval_deny", cancel)
    eventually(lambda: bot.actions.get(request.id).status == "denied")  # type: ignore[union-attr]

    bot.send(run, timestamp=timestamp)  # the captured click, once more

    bot.slack.settle()
    assert [a.status for a in bot.actions.for_alert(alert_id)] == ["denied"]
    assert [e["what"] for e in refused(bot, "replay")] == ["playbook_request"]


def test_a_replayed_mute_click_after_unmute_mutes_nothing(bot: Harness) -> None:
    alert_id = bot.alert()
    mute = bot.click_body(RESPONDER, "alert_mute_1", f"{alert_id}|1")
    timestamp = int(time.time())
    bot.send(mute, timestamp=timestamp)
    eventually(lambda: bot.thread(alert_id))
    bot.command(RESPONDER, "unmute secure.ssh_brute_force 203.0.113.7")
    assert bot.mutes.active() == []

    bot.send(mute, timestamp=timestamp)

    bot.slack.settle()
    assert bot.mutes.active() == []
    assert [e["what"] for e in refused(bot, "replay")] == ["alert_mute_1"]


def test_a_double_delivered_click_never_tells_the_clicker_someone_else_did_it(
        bot: Harness) -> None:
    alert_id = bot.alert()
    ack = bot.click_body(RESPONDER, "alert_ack", alert_id)
    timestamp = int(time.time())
    bot.send(ack, timestamp=timestamp)
    bot.send(ack, timestamp=timestamp)

    eventually(lambda: bot.thread(alert_id))
    bot.slack.settle()
    assert bot.ephemerals(RESPONDER) == []
    assert bot.thread(alert_id) == [f"Acknowledged by <@{RESPONDER}>"]


def test_simultaneous_run_clicks_open_one_request(bot: Harness) -> None:
    alert_id = alert_with_playbook(bot)
    clicks = [threading.Thread(target=bot.click, args=(user, "playbook_request",
                                                       f"{alert_id}|{PLAYBOOK}"))
              for user in (RESPONDER, MALLORY, "U0THIRD", "U0FOURTH")]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()

    eventually(lambda: len(bot.slack.calls("chat.postEphemeral")) == 3)
    assert len(bot.actions.for_alert(alert_id)) == 1


def test_auth_test_is_called_once_for_simultaneous_first_clicks(bot: Harness) -> None:
    alert_ids = [bot.alert() for _ in range(10)]
    clicks = [threading.Thread(target=bot.click, args=(RESPONDER, "alert_ack", alert_id))
              for alert_id in alert_ids]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()

    eventually(lambda: all(bot.alerts.get(a).status == "acknowledged"  # type: ignore[union-attr]
                           for a in alert_ids))
    assert len(bot.slack.calls("auth.test")) == 1


def test_a_second_person_is_still_told_who_acted_first(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.click(RESPONDER, "alert_ack", alert_id)
    eventually(lambda: bot.thread(alert_id))
    bot.click(MALLORY, "alert_ack", alert_id)

    assert bot.wait_ephemeral(MALLORY).startswith(f"Already acknowledged by <@{RESPONDER}>")
