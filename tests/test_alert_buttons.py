"""Resolve, False positive (modal) and Mute over signed HTTP, with every refusal."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator

import pytest
import redis
from fake_slack import FakeSlack, buttons
from slack_harness import (
    APPROVER,
    MALLORY,
    ONCALL_MEMBER,
    RESPONDER,
    Harness,
    eventually,
    harness,
)

from socbot.core.streams import AUDIT


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis, transport: str) -> Iterator[Harness]:
    with harness(slack, redis_client, transport=transport) as running:
        yield running


def audit_results(bot: Harness, what: str) -> list[str]:
    return [fields[b"result"].decode() for _id, fields in bot.redis.xrange(AUDIT)
            if fields[b"what"].decode() == what]


def test_resolve_updates_the_message_and_the_thread_timeline(bot: Harness) -> None:
    alert_id = bot.alert()
    assert bot.click(ONCALL_MEMBER, "alert_resolve", alert_id).status == 200

    eventually(lambda: bot.thread(alert_id))
    assert bot.thread(alert_id) == [f"Resolved by <@{ONCALL_MEMBER}>"]
    message = bot.message(alert_id)
    assert f"Resolved by <@{ONCALL_MEMBER}> at" in json.dumps(message["blocks"])
    assert buttons(message) == []
    assert bot.alerts.get(alert_id).status == "resolved"  # type: ignore[union-attr]


def test_resolve_by_someone_outside_oncall_and_approvers_is_refused(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.click(MALLORY, "alert_resolve", alert_id)

    text = bot.wait_ephemeral(MALLORY)
    assert text == ("Only the on-call group S0ONCALL or approvers can do this; "
                    "nothing changed.")
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]
    assert audit_results(bot, "resolve") == ["refused:not_responder"]


def test_a_second_resolve_says_who_did_it_first(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.click(APPROVER, "alert_resolve", alert_id)
    eventually(lambda: bot.thread(alert_id))
    bot.click(RESPONDER, "alert_resolve", alert_id)

    assert re.match(rf"Already resolved by <@{APPROVER}> at .* UTC; nothing changed",
                    bot.wait_ephemeral(RESPONDER))
    bot.slack.settle()
    assert len(bot.thread(alert_id)) == 1


def test_false_positive_opens_a_modal_and_records_the_reason(bot: Harness) -> None:
    alert_id = bot.alert()
    click = bot.click_body(RESPONDER, "alert_false_positive", alert_id)
    bot.send(click)

    [opened] = bot.slack.wait_for("views.open")
    view = opened.params["view"]
    trigger = json.loads(urllib.parse.parse_qs(click)["payload"][0])["trigger_id"]
    assert opened.params["trigger_id"] == trigger and view["callback_id"] == "false_positive"
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]

    reply = bot.submit(RESPONDER, "false_positive",
                       {"reason": {"reason": "our scanner <!channel>"}}, view["private_metadata"])
    assert reply.status == 200 and reply.body == ""
    eventually(lambda: bot.thread(alert_id))
    alert = bot.alerts.get(alert_id)
    assert alert is not None and alert.status == "false_positive"
    assert alert.status_reason == "our scanner <!channel>"
    assert bot.thread(alert_id) == [
        f"Marked false positive by <@{RESPONDER}>: our scanner &lt;!channel&gt;"]
    assert "Marked false positive by" in json.dumps(bot.message(alert_id)["blocks"])


def test_false_positive_without_a_reason_shows_an_error_in_the_modal(bot: Harness) -> None:
    alert_id = bot.alert()
    metadata = json.dumps({"alert_id": alert_id, "channel": "", "home": ""})
    reply = bot.submit(RESPONDER, "false_positive", {"reason": {"reason": "  "}}, metadata)

    assert reply.status == 200
    assert json.loads(reply.body) == {"response_action": "errors", "errors": {
        "reason": "Say in a few words why (at least 3 characters)."}}
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]


def test_false_positive_modal_is_not_opened_for_an_outsider(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.click(MALLORY, "alert_false_positive", alert_id)
    assert "can do this; nothing changed" in bot.wait_ephemeral(MALLORY)
    assert bot.slack.calls("views.open") == []
    # A forged submission (no modal was ever opened for Mallory) is refused as well.
    metadata = json.dumps({"alert_id": alert_id, "channel": "C0ALERTS", "home": ""})
    bot.submit(MALLORY, "false_positive", {"reason": {"reason": "not a threat"}}, metadata)
    bot.wait_ephemeral(MALLORY, 2)
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]


def test_mute_silences_rule_and_entity_until_it_expires(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.click(RESPONDER, "alert_mute_1", f"{alert_id}|1")

    eventually(lambda: bot.thread(alert_id))
    mute = bot.mutes.is_muted("secure.ssh_brute_force", "203.0.113.7")
    assert mute is not None and mute.by == RESPONDER
    assert 3590 < bot.redis.ttl("{soc}:mute:secure.ssh_brute_force:203.0.113.7") <= 3600
    assert bot.thread(alert_id)[0].startswith(f":mute: Muted for 1 h by <@{RESPONDER}>")
    message = bot.message(alert_id)
    assert "Muted until" in json.dumps(message["blocks"])
    assert not [b for b in buttons(message) if b["action_id"].startswith("alert_mute")]


def test_a_second_mute_click_changes_nothing_and_says_so(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.click(RESPONDER, "alert_mute_24", f"{alert_id}|24")
    eventually(lambda: bot.thread(alert_id))
    bot.click(RESPONDER, "alert_mute_24", f"{alert_id}|24")

    assert re.match(rf"Already muted until .* UTC by <@{RESPONDER}>; nothing changed",
                    bot.wait_ephemeral(RESPONDER))
    assert audit_results(bot, "mute") == ["24h", "refused:muted"]


@pytest.mark.parametrize("hours", ["720", "²"])
def test_a_forged_mute_duration_is_refused(bot: Harness, hours: str) -> None:
    alert_id = bot.alert()
    bot.click(RESPONDER, "alert_mute_1", f"{alert_id}|{hours}")
    assert bot.wait_ephemeral(RESPONDER) == ("This mute is not offered on this alert; "
                                             "nothing changed.")
    assert bot.mutes.active() == []


def test_mute_by_an_outsider_is_refused(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.click(MALLORY, "alert_mute_1", f"{alert_id}|1")
    assert "nothing changed" in bot.wait_ephemeral(MALLORY)
    assert bot.mutes.active() == []
