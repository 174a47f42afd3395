"""``/soc`` over signed HTTP: every subcommand, the usage on wrong arguments, Slack's limits."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fake_slack import FakeSlack, strings
from slack_harness import MALLORY, RESPONDER, Harness, harness

from socbot.core.alerts import Signal
from socbot.core.eventstore import EventStore
from socbot.core.streams import ALERTS, Consumer, Producer

HOSTILE = "<!channel> <!subteam^S1> <https://evil.example|Approve> &lt; x\x00y"


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis, transport: str) -> Iterator[Harness]:
    with harness(slack, redis_client, transport=transport) as running:
        yield running


def store_events(client: redis.Redis, count: int = 30, **fields: Any) -> None:
    EventStore(client).add_many({
        "@timestamp": f"2026-11-23T03:12:{n % 60:02d}Z", "event.id": f"ev-{n}",
        "event.dataset": "secure" if n % 2 else "wifi", "event.action": "ssh_login",
        "event.outcome": "failure", "source.ip": f"203.0.113.{n % 3}", "user.name": "root",
        "host.name": "web01", "message": f"line {n}", **fields} for n in range(count))


def text_of(answer: dict[str, Any]) -> str:
    """The text of the answer's sections, in order."""
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", [])
                     if b["type"] == "section" and "text" in b)


def assert_within_limits(answer: dict[str, Any]) -> None:
    assert answer["response_type"] == "ephemeral"
    assert len(answer["blocks"]) <= 50 and len(answer["text"]) <= 3000
    for block in answer["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000


def test_help_and_an_empty_command_give_the_usage(bot: Harness) -> None:
    for text in ("help", ""):
        answer = bot.command(RESPONDER, text)
        assert_within_limits(answer)
        assert "/soc search user=NAME" in text_of(answer)


@pytest.mark.parametrize("text", ["frobnicate", "recent 0", "recent 51", "recent a b c",
                                  "search", "search user=", "search colour=red",
                                  "search ip=1.2.3.4 ip=1.2.3.5", "search since=24h",
                                  "search ip=1.2.3.4 since=soon", "alert", "alert nope",
                                  "status now", "playbooks all", "mute x", "recent ²",
                                  "search ip=1.2.3.4 limit=²", "recent " + "9" * 5000])
def test_wrong_arguments_get_the_usage(bot: Harness, text: str) -> None:
    answer = bot.command(RESPONDER, text)
    assert_within_limits(answer)
    body = text_of(answer)
    assert body.startswith(":warning: ") and "*Usage*" in body


def test_recent_lists_the_newest_events_of_a_dataset(bot: Harness) -> None:
    store_events(bot.redis)
    answer = bot.command(RESPONDER, "recent secure 3")
    assert_within_limits(answer)
    lines = text_of(answer).splitlines()
    assert lines[0] == "*The 3 most recent secure event(s), newest first*"
    assert [re.search(r"line \d+", line).group() for line in lines[1:]] == [  # type: ignore[union-attr]
        "line 29", "line 27", "line 25"]


def test_search_combines_conditions(bot: Harness) -> None:
    store_events(bot.redis)
    answer = bot.command(RESPONDER, "search ip=203.0.113.1 dataset=wifi since=24h limit=50")
    body = text_of(answer)
    assert body.startswith("*5 event(s)* for ip=203.0.113.1 dataset=wifi since=24h limit=50")
    assert all("ip=203.0.113.1" in line and " wifi " in line for line in body.splitlines()[1:])


def test_hostile_event_fields_are_shown_as_text(bot: Harness) -> None:
    store_events(bot.redis, 3, **{"user.name": HOSTILE, "host.name": HOSTILE,
                                  "message": HOSTILE})
    answer = bot.command(RESPONDER, "search ip=203.0.113.0")
    assert text_of(answer).startswith("*1 event(s)*")
    blob = json.dumps(answer)
    for text in strings(answer):
        assert "\x00" not in text
        assert re.findall(r"<([^>]*)>", text) == []
    assert "&lt;!channel&gt;" in blob and "&amp;lt;" in blob


def test_search_typed_with_slack_escaping_finds_the_value(bot: Harness) -> None:
    store_events(bot.redis, 2, **{"user.name": "a<b"})
    answer = bot.command(RESPONDER, "search user=a&lt;b")
    assert text_of(answer).startswith("*2 event(s)*")


def test_a_long_answer_stays_within_slacks_limits(bot: Harness) -> None:
    store_events(bot.redis, 60, message="m" * 400)
    answer = bot.command(RESPONDER, "recent 50")
    assert_within_limits(answer)
    assert len(text_of(answer).splitlines()) == 51


def test_alert_shows_one_alert_with_its_buttons(bot: Harness) -> None:
    alert_id = bot.alert()
    answer = bot.command(RESPONDER, f"alert {alert_id.lower()}")
    assert_within_limits(answer)
    assert "SSH brute force" in answer["text"]
    assert any(b["type"] == "actions" for b in answer["blocks"])
    missing = bot.command(RESPONDER, "alert A0000000000")
    assert text_of(missing).startswith("No alert A0000000000")


def test_mute_list_and_unmute(bot: Harness) -> None:
    answer = bot.command(RESPONDER, "mute secure.ssh_brute_force 203.0.113.7 4h our scanner")
    assert text_of(answer).startswith(":mute: Muted `secure.ssh_brute_force` for 203.0.113.7 "
                                      "until")
    mute = bot.mutes.is_muted("secure.ssh_brute_force", "203.0.113.7")
    assert mute is not None and mute.reason == "our scanner" and mute.by == RESPONDER
    listed = text_of(bot.command(RESPONDER, "mute list"))
    assert "*1 mute(s) in force*" in listed and "our scanner" in listed
    whole_rule = text_of(bot.command(RESPONDER, "mute secure.ssh_brute_force 30m"))
    assert "(every entity)" in whole_rule
    assert "Unmuted" in text_of(bot.command(RESPONDER, "unmute secure.ssh_brute_force "
                                                       "203.0.113.7"))
    assert bot.mutes.is_muted("secure.ssh_brute_force", "203.0.113.7") is not None  # rule-wide
    assert "No mute" in text_of(bot.command(RESPONDER, "unmute secure.ssh_brute_force x"))


def test_mute_refusals(bot: Harness) -> None:
    refused = text_of(bot.command(MALLORY, "mute secure.ssh_brute_force 1h"))
    assert refused.startswith(":warning: only the on-call group S0ONCALL or approvers may mute")
    unknown = text_of(bot.command(RESPONDER, "mute secure.ssh_brutefroce 1h"))
    assert "is not a rule id; did you mean `secure.ssh_brute_force`" in unknown
    too_long = text_of(bot.command(RESPONDER, "mute secure.ssh_brute_force 31d"))
    assert "up to 30 days" in too_long
    assert bot.mutes.active() == []


def test_playbooks_lists_each_as_the_cli_and_home_do(bot: Harness) -> None:
    from socbot.bot.cli import main

    body = text_of(bot.command(RESPONDER, "playbooks"))
    line = ("`revoke-world-ingress`: undo by hand · 1 approval · Revoke the security group's "
            "ingress rules open to 0.0.0.0/0 or ::/0")
    assert line in body
    bot.event({"type": "app_home_opened", "user": RESPONDER, "channel": "D0HOME",
               "tab": "home", "event_ts": "1.2"})
    assert line in json.dumps(bot.slack.wait_for("views.publish")[0].params["view"],
                              ensure_ascii=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["playbooks", "list"]) == 0
    assert line.replace("`", "") in out.getvalue().splitlines()


def test_status_shows_stages_dead_letters_and_last_event_per_source(bot: Harness) -> None:
    store_events(bot.redis, 2)
    # A handler that cannot reach Slack (it posts at once, where the notifier would only mark
    # the alert): the entry is retried from the stream, then dead-lettered with the error,
    # which /soc status shows.
    alert_id, _ = bot.alerts.record(Signal(
        rule_id="r", title="t", severity="low", dedup_key="d", entity={"type": "ip",
        "value": "203.0.113.9"}, event_ids=["e"], timestamp=1.0, dataset="secure"))
    Producer(bot.redis).add(ALERTS, {"alert_id": alert_id, "kind": "new"})
    bot.slack.fail_next("chat.postMessage", count=10, status=500)
    consumer = Consumer(bot.redis, ALERTS, "notify", "notify-test",
                        lambda _id, fields: bot.notifier.deliver(fields["alert_id"]) and None,
                        block_ms=0, min_idle_ms=0, max_deliveries=2)
    for _ in range(4):
        consumer.step(block_ms=0)
        time.sleep(0.06)  # the consumer reclaims pending entries at most every 50 ms
    assert consumer.stats.dead_lettered == 1

    answer = bot.command(RESPONDER, "status")
    assert_within_limits(answer)
    body = text_of(answer)
    assert "`{soc}:alerts` / notify: lag 0, 0 pending, 1 consumer(s)" in body
    assert "`{soc}:events` / detect: stream not created yet" in body
    assert "*Dead letters*: 1" in body
    assert f"{{soc}}:alerts/notify {alert_id}" in body and "internal_error" in body
    assert "• secure: `2026-11-23T03:12:01Z`" in body and "• wifi:" in body
