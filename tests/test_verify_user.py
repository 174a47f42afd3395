""""Was this you?": the DM, who may answer, Yes, No and no answer in time, over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from fake_slack import FakeSlack, button_value, buttons
from slack_harness import MALLORY, Harness, default_settings, eventually, harness

ALICE = "U0ALICE"
RULE = "secure.sudo_failures"


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis, transport: str) -> Iterator[Harness]:
    slack.emails["bob@example.com"] = "U0BOB"
    settings = default_settings(verify_user={
        "rules": {RULE: "user.name"}, "users": {"alice": ALICE},
        "email_domain": "example.com", "timeout_minutes": 60, "quiet_hours": 21})
    with harness(slack, redis_client, settings, transport=transport) as running:
        yield running


def person_alert(bot: Harness, user: str = "alice", **overrides: object) -> str:
    return bot.alert(rule_id=RULE, title=f"sudo failures by {user}",
                     entity={"type": "user", "value": user}, dedup_key=user,
                     context={"user.name": user, "host.name": "web01"}, **overrides)


def dm_to(bot: Harness, user: str) -> dict[str, object]:
    calls = [c.params for c in bot.slack.calls("chat.postMessage") if c.params["channel"] == user]
    assert len(calls) == 1, calls
    return calls[0]


def test_the_person_named_gets_a_dm_with_yes_and_no(bot: Harness) -> None:
    alert_id = person_alert(bot)

    dm = dm_to(bot, ALICE)
    assert [b["action_id"] for b in buttons(dm)] == ["verify_yes", "verify_no"]
    assert button_value(dm, "verify_yes") == alert_id
    assert "confirm" in buttons(dm)[0]
    assert "sudo failures by alice" in str(dm["text"])
    assert f"Asked <@{ALICE}> whether this was them" in bot.thread(alert_id)[0]


def test_the_person_is_found_by_email_when_not_mapped(bot: Harness) -> None:
    person_alert(bot, "bob")
    assert bot.slack.calls("users.lookupByEmail")[0].params["email"] == "bob@example.com"
    dm_to(bot, "U0BOB")


def test_an_unknown_person_is_noted_in_the_thread_and_nobody_is_asked(bot: Harness) -> None:
    alert_id = person_alert(bot, "<!channel>")
    assert bot.thread(alert_id) == [
        ':grey_question: Could not find a Slack user for &lt;!channel&gt; to ask "was this '
        'you?".']
    assert bot.verifier.get(alert_id) is None


def test_yes_resolves_and_quiets_the_same_alert_for_that_person(bot: Harness) -> None:
    alert_id = person_alert(bot)
    dm = dm_to(bot, ALICE)
    channel = bot.slack.channel_id(ALICE)
    ts = next(ts for (ch, ts), p in bot.slack.messages.items() if ch == channel)
    bot.click(ALICE, "verify_yes", alert_id, channel=channel, ts=ts)

    eventually(lambda: bot.alerts.get(alert_id).status == "resolved")  # type: ignore[union-attr]
    mute = bot.mutes.is_muted(RULE, "alice")
    assert mute is not None and mute.by == ALICE
    assert 20.9 * 3600 < mute.until - bot.clock() <= 21 * 3600
    eventually(lambda: any("confirmed it was them" in t for t in bot.thread(alert_id)))
    eventually(lambda: buttons(bot.slack.messages[(channel, ts)]) == [])
    assert "You confirmed it was you" in json.dumps(bot.slack.messages[(channel, ts)])
    assert dm["channel"] == ALICE


def test_no_pages_oncall_in_the_alert_thread(bot: Harness) -> None:
    alert_id = person_alert(bot)
    bot.click(ALICE, "verify_no", alert_id, channel=bot.slack.channel_id(ALICE))

    eventually(lambda: len(bot.thread(alert_id)) == 2)
    assert bot.thread(alert_id)[1] == (f"<!subteam^S0ONCALL> :rotating_light: <@{ALICE}> says "
                                       "this was *not* them. Please investigate now.")
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]
    assert bot.verifier.get(alert_id).status == "no"  # type: ignore[union-attr]


def test_only_the_person_asked_can_answer(bot: Harness) -> None:
    alert_id = person_alert(bot)
    bot.click(MALLORY, "verify_yes", alert_id, channel="C0ALERTS")

    assert bot.wait_ephemeral(MALLORY) == ("Only the person this question was sent to can "
                                           "answer it; nothing changed.")
    assert bot.verifier.get(alert_id).status == "pending"  # type: ignore[union-attr]
    assert bot.mutes.active() == []


def test_a_double_click_after_the_answer_changes_nothing(bot: Harness) -> None:
    alert_id = person_alert(bot)
    channel = bot.slack.channel_id(ALICE)
    bot.click(ALICE, "verify_no", alert_id, channel=channel)
    eventually(lambda: len(bot.thread(alert_id)) == 2)
    bot.click(ALICE, "verify_yes", alert_id, channel=channel)

    assert bot.wait_ephemeral(ALICE) == "This question was already closed (no); nothing changed."
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]
    assert bot.mutes.active() == []


def test_no_answer_in_time_escalates(bot: Harness) -> None:
    alert_id = person_alert(bot, severity="low")
    bot.clock.advance(59 * 60)
    bot.escalator.tick()
    assert len(bot.thread(alert_id)) == 1
    bot.clock.advance(60)
    bot.escalator.tick()

    assert bot.thread(alert_id)[1].startswith(
        f'<!subteam^S0ONCALL> :hourglass: <@{ALICE}> did not answer "was this you?" within '
        "60 min")
    assert bot.verifier.get(alert_id).status == "timeout"  # type: ignore[union-attr]
    bot.click(ALICE, "verify_yes", alert_id, channel=bot.slack.channel_id(ALICE))
    assert "already closed (timeout)" in bot.wait_ephemeral(ALICE)


def test_alerts_of_other_rules_ask_nobody(bot: Harness) -> None:
    bot.alert(context={"user.name": "alice"})
    assert [c for c in bot.slack.calls("chat.postMessage") if c.params["channel"] == ALICE] == []
