"""Escalation of unacknowledged alerts per severity, with a clock the test moves."""

from __future__ import annotations

import redis
from fake_slack import FakeSlack
from slack_harness import RESPONDER, default_settings, eventually, harness


def test_an_unacknowledged_alert_pages_oncall_in_its_thread_when_due(
        slack: FakeSlack, redis_client: redis.Redis) -> None:
    settings = default_settings(escalate_after_minutes={"high": 30}, escalation_repeats=2)
    with harness(slack, redis_client, settings) as bot:
        alert_id = bot.alert(severity="high")
        bot.clock.advance(29 * 60 + 59)
        assert bot.escalator.tick() == 0
        bot.clock.advance(1)
        assert bot.escalator.tick() == 1

        [page] = bot.thread(alert_id)
        assert page.startswith("<!subteam^S0ONCALL> :rotating_light: Not acknowledged after "
                               "30 min: HIGH SSH brute force")
        assert "reminder 1 of 2" in page
        assert bot.escalator.tick() == 0  # nothing more until the next interval
        bot.clock.advance(30 * 60)
        assert bot.escalator.tick() == 1
        assert "after 60 min" in bot.thread(alert_id)[1]
        bot.clock.advance(30 * 60)
        assert bot.escalator.tick() == 0  # at most escalation_repeats reminders


def test_acknowledging_in_time_stops_the_escalation(slack: FakeSlack,
                                                   redis_client: redis.Redis) -> None:
    settings = default_settings(escalate_after_minutes={"critical": 10})
    with harness(slack, redis_client, settings) as bot:
        alert_id = bot.alert(severity="critical")
        bot.click(RESPONDER, "alert_ack", alert_id)
        eventually(lambda: bot.thread(alert_id))
        bot.clock.advance(11 * 60)

        assert bot.escalator.tick() == 0
        assert bot.thread(alert_id) == [f"Acknowledged by <@{RESPONDER}>"]


def test_each_severity_waits_its_own_time_and_unlisted_ones_never_escalate(
        slack: FakeSlack, redis_client: redis.Redis) -> None:
    settings = default_settings(escalate_after_minutes={"critical": 10, "high": 30})
    with harness(slack, redis_client, settings) as bot:
        critical = bot.alert(severity="critical", dedup_key="c")
        high = bot.alert(severity="high", dedup_key="h")
        low = bot.alert(severity="low", dedup_key="l")
        bot.clock.advance(10 * 60)
        assert bot.escalator.tick() == 1
        assert len(bot.thread(critical)) == 1 and bot.thread(high) == []
        bot.clock.advance(20 * 60)
        assert bot.escalator.tick() == 2  # the critical one's second reminder, and the high
        assert len(bot.thread(critical)) == 2 and len(bot.thread(high)) == 1
        bot.clock.advance(24 * 3600)
        bot.escalator.tick()
        assert bot.thread(low) == []


def test_a_critical_alert_mentions_oncall_when_posted(slack: FakeSlack,
                                                      redis_client: redis.Redis) -> None:
    with harness(slack, redis_client) as bot:
        alert_id = bot.alert(severity="critical")
        assert bot.message(alert_id)["text"].startswith("<!subteam^S0ONCALL> [CRITICAL]")
        other = bot.alert(severity="high", dedup_key="other")
        assert "subteam" not in bot.message(other)["text"]
