"""The App Home tab: open alerts by severity with the same buttons, over signed HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fake_slack import FakeSlack, strings
from slack_harness import MALLORY, RESPONDER, Harness, eventually, harness


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis, transport: str) -> Iterator[Harness]:
    with harness(slack, redis_client, transport=transport) as running:
        yield running


def home_of(bot: Harness, user: str, count: int = 1) -> dict[str, Any]:
    calls = [c for c in bot.slack.wait_for("views.publish", count)
             if c.params["user_id"] == user]
    assert calls
    view = calls[-1].params["view"]
    return dict(view if isinstance(view, dict) else json.loads(view))


def test_opening_home_publishes_open_alerts_worst_first_with_buttons(bot: Harness) -> None:
    low = bot.alert(severity="low", dedup_key="l", title="Low one")
    critical = bot.alert(severity="critical", dedup_key="c", title="Critical one")
    closed = bot.alert(severity="high", dedup_key="h", title="Closed one")
    bot.alerts.transition(closed, "resolved", RESPONDER)
    assert bot.event({"type": "app_home_opened", "user": RESPONDER, "tab": "home",
                      "channel": "D0HOME"}).status == 200

    view = home_of(bot, RESPONDER)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    body = json.dumps(view)
    assert body.index("Critical one") < body.index("Low one")
    assert "Closed one" not in body
    actions = {b["block_id"]: [e["action_id"] for e in b["elements"]]
               for b in view["blocks"] if b["type"] == "actions"}
    assert actions[f"alert:{critical}"][:3] == ["alert_ack", "alert_resolve",
                                                 "alert_false_positive"]
    assert f"alert:{low}" in actions


def test_the_messages_tab_publishes_nothing(bot: Harness) -> None:
    bot.event({"type": "app_home_opened", "user": RESPONDER, "tab": "messages"})
    bot.slack.settle()
    assert bot.slack.calls("views.publish") == []


def test_a_click_on_home_updates_the_alert_message_and_the_home_tab(bot: Harness) -> None:
    alert_id = bot.alert()
    assert bot.click(RESPONDER, "alert_ack", alert_id, home=True).status == 200

    eventually(lambda: bot.alerts.get(alert_id).status == "acknowledged")  # type: ignore[union-attr]
    view = home_of(bot, RESPONDER)
    assert f"Acknowledged by <@{RESPONDER}>" in json.dumps(view)
    assert f"Acknowledged by <@{RESPONDER}>" in json.dumps(bot.message(alert_id)["blocks"])
    eventually(lambda: bot.thread(alert_id) == [f"Acknowledged by <@{RESPONDER}>"])


def test_a_refusal_on_home_is_a_notice_on_home(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.click(MALLORY, "alert_resolve", alert_id, home=True)

    view = home_of(bot, MALLORY)
    assert view["blocks"][1]["text"]["text"].startswith(":warning: Only the on-call group")
    assert bot.slack.calls("chat.postEphemeral") == []
    assert bot.alerts.get(alert_id).status == "open"  # type: ignore[union-attr]


def test_hostile_alert_text_on_home_is_inert(bot: Harness) -> None:
    hostile = "<!channel> <!subteam^S1> <https://evil.example|Approve> &lt; \x00"
    bot.alert(title=hostile, entity={"type": "user", "value": hostile})
    bot.event({"type": "app_home_opened", "user": RESPONDER, "tab": "home"})
    view = home_of(bot, RESPONDER)
    for text in strings(view):
        assert "\x00" not in text and "<!" not in text and "<https" not in text
