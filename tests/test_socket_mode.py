"""Socket Mode as Slack runs it: slack_sdk's own client (through Bolt's SocketModeHandler)
against the fake Socket Mode server: the connection is opened with the app token, every
envelope is acknowledged with its id, and a ``disconnect`` (refresh) is followed by a new
connection that carries on."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest
import redis
from fake_slack import FakeSlack, event_body, slash_command_body
from slack_harness import RESPONDER, Harness, eventually, harness


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis) -> Iterator[Harness]:
    with harness(slack, redis_client, transport="socket") as running:
        yield running


def test_the_connection_is_opened_with_the_app_token(bot: Harness) -> None:
    [opened] = bot.slack.calls("apps.connections.open")
    assert opened.headers["authorization"] == "Bearer xapp-1-A0001-test"
    assert bot.slack.socket_mode.hellos == 1


def test_a_slash_command_is_answered_in_its_acknowledgement(bot: Harness) -> None:
    form = dict(urllib.parse.parse_qsl(slash_command_body(user=RESPONDER, text="help")))
    ack = bot.slack.socket_mode.request("slash_commands", form)

    assert set(ack) == {"envelope_id", "payload"}
    assert "/soc" in json.dumps(ack["payload"])


def test_an_event_is_acknowledged_by_its_envelope_id_alone(bot: Harness) -> None:
    body = json.loads(event_body({"type": "app_home_opened", "user": RESPONDER,
                                  "channel": "D0HOME", "tab": "home", "event_ts": "1.2"}))
    ack = bot.slack.socket_mode.request("events_api", body)

    assert list(ack) == ["envelope_id"]
    bot.slack.wait_for("views.publish")


def test_after_a_refresh_request_the_client_reconnects_and_carries_on(bot: Harness) -> None:
    alert_id = bot.alert()
    bot.slack.socket_mode.disconnect("refresh_requested")

    bot.slack.socket_mode.wait_connected(2)
    assert len(bot.slack.calls("apps.connections.open")) == 2
    bot.click(RESPONDER, "alert_ack", alert_id)  # on the new connection
    eventually(lambda: bot.alerts.get(alert_id).status == "acknowledged")  # type: ignore[union-attr]
